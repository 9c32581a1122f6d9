"""Applying puts to a sandbox database, answering like XML Direct (PROTOCOL §3.5 / §6).

Invoices (``what=invoice``), per document, first rule that applies:
Type 12 no ``number``; 9 a number that is not a positive int ≤ 2147483647; 14 the number
exists and is confirmed; 11 it exists (draft); 13 no ``customercode``; 31 unknown customer;
13 the customer card has neither e-mail nor reg. no. (and none sent inline); the database's
``unknown_code_type`` (31) naming an unknown payment term (only when the database has
a ``payment_terms`` register), article, VAT code, object or salesman;
otherwise created: the spec's ``create_type`` (30, "Created") with ``docid`` = number.
A malformed document (or one with a DTD) is one Type 8; no documents is one Type 99.

Receipts (``what=receipt``): 12 no number; 11 number exists; 31 a row's invoice unknown;
``confirm="1"`` without ``paymentmode`` is stored unconfirmed with Type 29 and Directo's
Estonian text; otherwise Type 0 — and a confirmed receipt reduces its invoices' balances.
A row's own ``aeg`` dates it; rows without one take the header ``date``.

How the results are written is the database's ``Faults.answer_shape`` (see `xml`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from app.directo.codec import XmlNode, parse_document
from app.directo.errors import DirectoDecodeError
from app.directo.sandbox.data import CENT, money
from app.directo.sandbox.store import SandboxDatabase

Result = dict[str, str]
_MAX_NUMBER = 2_147_483_647


def result(
    type_: int, desc: str, *, docid: str = "", doctype: str = "", submit: str = ""
) -> Result:
    return {"Type": str(type_), "Desc": desc, "docid": docid, "doctype": doctype, "submit": submit}


def apply_put(db: SandboxDatabase, what: str, xmldata: str) -> list[Result]:
    """Apply one put document; one result per document (or one for the whole request)."""
    try:
        root = parse_document(xmldata) if xmldata.strip() else None
    except DirectoDecodeError:
        return [result(8, "Invalid xml given")]
    if what == "invoice":
        docs = root.iter("invoice") if root else []
        handler = _put_invoice
    elif what == "receipt":
        docs = root.iter("receipt") if root else []
        handler = _put_receipt
    else:
        return [result(9, f"Error on import: component {what!r} is read-only in the sandbox")]
    if not docs:
        return [result(99, "No processable XML data found")]
    return [handler(db, doc) for doc in docs]


def _number_problem(number: str) -> Result | None:
    if not number:
        return result(12, "Missing document identificator")
    if not number.isdigit() or not 0 < int(number) <= _MAX_NUMBER:
        return result(9, f"Error on import: invalid document number {number!r}")
    return None


def _put_invoice(db: SandboxDatabase, doc: XmlNode) -> Result:
    a = doc.attrs
    number = a.get("number", "").strip()
    problem = _number_problem(number)
    if problem:
        return problem
    kw = {"doctype": "ARVE", "submit": "Invoices"}
    existing = db.invoice(number)
    if existing is not None:
        if existing[0].get("confirmed") == "1":
            return result(14, "Update not allowed (confirmed)", docid=number, **kw)
        return result(11, "Duplicate", docid=number, **kw)
    code = a.get("customercode", "").strip()
    if not code:
        return result(13, "Missing customer code")
    customer = db.customer(code)
    if customer is None:
        return result(db.spec.unknown_code_type, f"Customer not found: {code}")
    card = customer[0]
    if not (card.get("email") or card.get("regno") or a.get("email") or a.get("customer_regno")):
        return result(13, "Missing customer email or reg.no")
    rows = [row for rows in doc.iter("rows") for row in rows.children if row.tag == "row"]
    unknown = _unknown_code(db, a, rows)
    if unknown:
        return result(db.spec.unknown_code_type, unknown)
    try:
        priced = [_priced_row(db, n, row.attrs) for n, row in enumerate(rows, start=1)]
    except (InvalidOperation, ValueError) as exc:
        return result(9, f"Error on import: {exc}")
    net = sum((Decimal(row["sum"]) for row in priced), Decimal(0))
    vat = sum((Decimal(row.pop("_vat")) for row in priced), Decimal(0))
    day = a.get("date", "")[:10] or db.today.isoformat()
    attrs = {
        "number": number, "date": f"{day}T00:00:00", "duedate": _day(a.get("duedate")),
        "transactiondate": f"{day}T00:00:00", "customercode": code,
        "customername": a.get("customername") or card.get("name", ""),
        "paymentterm": a.get("paymentterm", ""), "vatzone": a.get("vatzone", "0"),
        "country": card.get("country", ""), "currency": a.get("currency", "EUR"),
        "currencyrate": "1", "salesman": a.get("salesman", ""), "comment": a.get("comment", ""),
        "confirmed": "1" if a.get("confirm") == "1" else "0", "netamount": money(net),
        "vat": money(vat), "totalamount": money(net + vat), "balance": money(net + vat),
        "ts": db.now(),
    }  # fmt: skip
    db.store_invoice(attrs, priced)
    desc = "Created" if db.spec.create_type == 30 else "OK"
    return result(db.spec.create_type, desc, docid=number, **kw)


def _day(value: str | None) -> str:
    return f"{value[:10]}T00:00:00" if value else ""


def _unknown_code(db: SandboxDatabase, header: dict[str, str], rows: list[XmlNode]) -> str | None:
    items = db.item_codes()
    term = header.get("paymentterm")
    if term and db.payment_terms is not None and term not in db.payment_terms:
        # Directo's text is not public (PROTOCOL §3.5): worded like its other unknown codes.
        return f"Payment term not found: {term}"
    if header.get("salesman") and header["salesman"] not in db.salesmen:
        return f"Salesman not found: {header['salesman']}"
    if header.get("object") and header["object"] not in db.objects:
        return f"Object not found: {header['object']}"
    for row in rows:
        r = row.attrs
        if r.get("item") and r["item"] not in items:
            return f"Article not found: {r['item']}"
        if r.get("vatcode") and r["vatcode"] not in db.vat_rates:
            return f"VAT code not found: {r['vatcode']}"
        if r.get("object") and r["object"] not in db.objects:
            return f"Object not found: {r['object']}"
    return None


def _priced_row(db: SandboxDatabase, rn: int, row: dict[str, str]) -> dict[str, str]:
    quantity = Decimal(row.get("quantity") or "1")
    price = Decimal(row.get("price") or "0")
    row_sum = (quantity * price).quantize(CENT)
    rate = Decimal(db.vat_rates.get(row.get("vatcode", ""), "0"))
    return {
        "rn": str(rn), "item": row.get("item", ""), "description": row.get("description", ""),
        "quantity": row.get("quantity", "1"), "price": row.get("price", "0"),
        "vatcode": row.get("vatcode", ""), "account": row.get("account", "3010"),
        "object": row.get("object", ""), "sum": money(row_sum),
        "_vat": str((row_sum * rate / 100).quantize(CENT)),
    }  # fmt: skip


def _put_receipt(db: SandboxDatabase, doc: XmlNode) -> Result:
    a = doc.attrs
    number = a.get("number", "").strip()
    problem = _number_problem(number)
    if problem:
        return problem
    kw = {"doctype": "LAEKUMINE", "submit": "Receipts"}
    if number in db.receipts:
        return result(11, "Duplicate", docid=number, **kw)
    rows = [row.attrs for rows in doc.iter("rows") for row in rows.children if row.tag == "row"]
    for row in rows:
        if db.invoice(row.get("invoice", "")) is None:
            return result(31, f"Invoice not found: {row.get('invoice', '')}")
    wants_confirm = a.get("confirm") == "1"
    confirmed = wants_confirm and bool(a.get("paymentmode"))
    day = a.get("date", "")[:10] or db.today.isoformat()
    stored = [_receipt_row(db, row, day) for row in rows]
    header = {"number": number, "paymentmode": a.get("paymentmode", ""),
              "aeg": f"{day}T00:00:00", "confirmed": "1" if confirmed else "0"}  # fmt: skip
    db.add_receipt(header, stored)
    if wants_confirm and not confirmed:
        return result(29, "Tasumisviisi ei leitud / Deebet on vale või puudu", docid=number, **kw)
    return result(0, "OK", docid=number, **kw)


def _receipt_row(db: SandboxDatabase, row: dict[str, str], day: str) -> dict[str, str]:
    invoice = db.invoice(row.get("invoice", ""))
    card = invoice[0] if invoice else {}
    amount = row.get("received") or row.get("payment") or "0"
    row_day = (row.get("aeg") or "")[:10] or day  # a row may carry its own date
    return {"invoice": row.get("invoice", ""), "aeg": f"{row_day}T00:00:00",
            "customer": row.get("customer") or card.get("customercode", ""),
            "customername": card.get("customername", ""), "received": amount,
            "invoicesum": card.get("balance", "")}  # fmt: skip
