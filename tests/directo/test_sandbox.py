"""The sandbox over ASGI: auth, licensing, filters, puts, receipts, faults, admin, log."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.directo import codec, feeds, results
from app.directo.errors import DirectoTruncatedError
from app.directo.sandbox import Faults, SandboxState
from app.directo.sandbox.data import Dataset
from app.directo.sandbox.filters import FilterError, parse_moment
from app.directo.schemas import PutResultKind

XD = "/xmlcore/cap_xml_direct/xmlcore.asp"
EE = "sandbox-token-ee"


async def get(http: httpx.AsyncClient, what: str, token: str = EE, **params: str) -> httpx.Response:
    return await http.post(XD, data={"token": token, "get": "1", "what": what, **params})


async def records(http: httpx.AsyncClient, what: str, **params: str) -> list[Any]:
    response = await get(http, what, **params)
    assert response.status_code == 200
    return codec.decode_feed(feeds.FEEDS_BY_WHAT[what], response.content)


async def put(http: httpx.AsyncClient, xmldata: str, what: str = "invoice") -> list[Any]:
    response = await http.post(XD, data={"token": EE, "put": "1", "what": what, "xmldata": xmldata})
    return results.parse_put_response(response.content)


def invoice_xml(
    number: str = "20260001", customer: str = "K000002", rows: str = "", extra: str = ""
) -> str:
    rows = rows or '<row item="KONS" quantity="2" price="60.00" vatcode="24"/>'
    return (
        f'<invoices><invoice number="{number}" customercode="{customer}" date="2025-06-20" '
        f"{extra}><rows>{rows}</rows></invoice></invoices>"
    )


# -- auth and routing ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "body"),
    [
        ({"get": "1", "what": "customer"}, b"<err>token required</err>"),
        (
            {"token": "wrong", "get": "1", "what": "customer"},
            b'<result type="5" desc="Unauthorized"/>',
        ),
        (
            {"token": "sandbox-token-revoked", "get": "1", "what": "customer"},
            b'<result type="5" desc="Unauthorized"/>',
        ),
        ({"token": EE, "what": "customer"}, b'<result type="404" desc="Invalid url given"/>'),
        (
            {"token": EE, "get": "1", "what": "bogus"},
            b'<result type="404" desc="Invalid url given"/>',
        ),
        (
            {"token": EE, "get": "1", "what": "customer", "ts": "someday"},
            b'<result type="9" desc="Invalid date given: someday"/>',
        ),
    ],
)
async def test_errors_are_answered_like_directo(
    sandbox_http: httpx.AsyncClient, data: dict[str, str], body: bytes
) -> None:
    response = await sandbox_http.post(XD, data=data)
    assert response.status_code == 200
    assert response.content.endswith(body)


async def test_parameters_from_query_or_body_any_case_get_or_post(
    sandbox_http: httpx.AsyncClient,
) -> None:
    by_get = await sandbox_http.get(XD, params={"TOKEN": EE, "Get": "1", "WHAT": "item"})
    mixed = await sandbox_http.post(XD + "?what=item&get=1", data={"Token": EE})
    assert by_get.status_code == mixed.status_code == 200
    assert by_get.content == mixed.content
    assert len(codec.decode_feed(feeds.ITEMS, by_get.content)) == 15


async def test_legacy_url_needs_the_token_of_that_database(sandbox_http: httpx.AsyncClient) -> None:
    ok = await sandbox_http.post(
        "/xmlcore/demo_ee/xmlcore.asp", data={"key": EE, "get": "1", "what": "item"}
    )
    other = await sandbox_http.post(
        "/xmlcore/demo_lv/xmlcore.asp", data={"key": EE, "get": "1", "what": "item"}
    )
    unknown = await sandbox_http.post("/xmlcore/nope/xmlcore.asp", data={"key": EE})
    assert len(codec.decode_feed(feeds.ITEMS, ok.content)) == 15
    assert other.content.endswith(b'<result type="5" desc="Unauthorized"/>')
    assert unknown.status_code == 404


async def test_licensing_is_per_token_and_component(sandbox_http: httpx.AsyncClient) -> None:
    cards = "sandbox-token-ee-cards"
    assert (await get(sandbox_http, "customer", token=cards)).content.startswith(b"<?xml")
    refused = await get(sandbox_http, "invoice", token=cards)
    assert refused.content.endswith(b'<result type="5" desc="Unauthorized"/>')


# -- seeded data and filters ---------------------------------------------------------------
async def test_seeded_customers_are_realistic_and_deterministic(
    sandbox_http: httpx.AsyncClient, state: SandboxState
) -> None:
    customers = await records(sandbox_http, "customer")
    assert len(customers) == 120
    assert [c.code for c in customers[:3]] == ["K000001", "K000002", "K000003"]
    assert (await records(sandbox_http, "customer")) == customers
    names = "".join(c.name for c in customers)
    assert set("õäöüšž") & set(names.lower()) == set("õäöüšž") & set(names.lower()) != set()
    bare = [c for c in customers if c.email is None and c.regno is None]
    assert {c.code for c in bare} >= {"K000004", "K000029"}  # i % 25 == 3
    assert {c.code for c in customers if c.closed} == {
        Dataset.customer_code(i) for i in range(120) if i % 17 == 5
    }
    lv = codec.decode_feed(
        feeds.CUSTOMERS, (await get(sandbox_http, "customer", token="sandbox-token-lv")).content
    )
    assert any(ch in "".join(c.name for c in lv) for ch in "āēķļņ")


@pytest.mark.parametrize(
    "ts",
    ["01.06.2025", "01.06.2025 00:00", "2025-06-01", "2025-06-01 00:00:00", "2025-06-01T00:00:00"],
)
async def test_ts_filter_accepts_every_format(sandbox_http: httpx.AsyncClient, ts: str) -> None:
    everyone = await records(sandbox_http, "customer")
    recent = await records(sandbox_http, "customer", ts=ts)
    assert recent == [c for c in everyone if c.ts.isoformat() >= "2025-06-01"]
    assert 0 < len(recent) < len(everyone)


async def test_code_closed_number_customercode_and_date_filters(
    sandbox_http: httpx.AsyncClient,
) -> None:
    assert [c.code for c in await records(sandbox_http, "customer", code="K000007")] == ["K000007"]
    assert await records(sandbox_http, "customer", code="NOPE") == []
    closed = await records(sandbox_http, "customer", closed="1")
    assert closed
    assert all(c.closed for c in closed)
    open_ = await records(sandbox_http, "customer", closed="0")
    assert len(open_) + len(closed) == 120
    items = await records(sandbox_http, "item", closed="1")
    assert [i.code for i in items] == ["TSD"]  # index 8 (i % 9 == 8 below 15)
    [invoice] = await records(sandbox_http, "invoice", number="100003")
    assert invoice.number == "100003"
    mine = await records(sandbox_http, "invoice", customercode=invoice.customercode)
    assert invoice in mine
    assert {i.customercode for i in mine} == {invoice.customercode}
    june = await records(sandbox_http, "invoice", date1="01.06.2025", date2="2025-06-30")
    assert june
    assert all(date(2025, 6, 1) <= i.date <= date(2025, 6, 30) for i in june)
    receipts = await records(sandbox_http, "receipt", customercode=invoice.customercode)
    assert all(r.rows[0].customer == invoice.customercode for r in receipts)


async def test_documents_span_the_months_before_today_and_balances_follow_receipts(
    sandbox_http: httpx.AsyncClient,
) -> None:
    invoices = await records(sandbox_http, "invoice")
    receipts = await records(sandbox_http, "receipt")
    assert len(invoices) == 60
    assert min(i.date for i in invoices) >= date(2025, 4, 1)
    assert max(i.date for i in invoices) <= date(2025, 6, 30)
    paid = {r.rows[0].invoice: r for r in receipts}
    for invoice in invoices:
        assert invoice.netamount + invoice.vat == invoice.totalamount
        assert sum(row.sum for row in invoice.rows) == invoice.netamount
        receipt = paid.get(invoice.number)
        settled = receipt.rows[0].received if receipt and receipt.confirmed else Decimal(0)
        assert invoice.balance == invoice.totalamount - settled
    assert any(not r.confirmed for r in receipts)
    assert any(r.confirmed for r in receipts)
    assert len(await records(sandbox_http, "purchase")) == 15
    transactions = await records(sandbox_http, "transaction")
    assert len(transactions) == 24
    assert all(
        sum(r.debitamount for r in t.rows) == sum(r.creditamount for r in t.rows)
        for t in transactions
    )


def test_parse_moment_formats_and_refusal() -> None:
    assert parse_moment("1.1.1970").isoformat() == "1970-01-01T00:00:00"
    assert parse_moment("01.06.2025 13:45:10").isoformat() == "2025-06-01T13:45:10"
    with pytest.raises(FilterError):
        parse_moment("31.02.2025")


@pytest.mark.parametrize(
    ("text", "dates", "read"),
    [
        ("13.06.2025", "any", "2025-06-13T00:00:00"),
        ("2025-06-13", "any", "2025-06-13T00:00:00"),
        ("05.06.2025 08:30", "iso", "2025-05-06T08:30:00"),  # month first: misread
        ("2025-06-13 08:30:05", "iso", "2025-06-13T08:30:05"),
        ("13.06.2025", "dmy", "2025-06-13T00:00:00"),
        ("2025-06-05", "dmy", "2025-05-06T00:00:00"),  # yyyy-dd-mm: misread
        ("2025-06-05T10:00:00", "dmy", "2025-05-06T10:00:00"),
    ],
)
def test_parse_moment_under_each_date_mode(text: str, dates: str, read: str) -> None:
    assert parse_moment(text, dates).isoformat() == read


@pytest.mark.parametrize(("text", "dates"), [("13.06.2025", "iso"), ("2025-06-13", "dmy")])
def test_a_day_above_12_in_the_unexpected_order_is_an_invalid_date(text: str, dates: str) -> None:
    with pytest.raises(FilterError, match=f"Invalid date given: {text}"):
        parse_moment(text, dates)


# -- puts ----------------------------------------------------------------------------------
async def test_put_invoice_creates_and_appears_in_the_feed(sandbox_http: httpx.AsyncClient) -> None:
    [created] = await put(sandbox_http, invoice_xml())
    assert (created.type, created.desc, created.docid, created.doctype) == (
        30,
        "Created",
        "20260001",
        "ARVE",
    )
    [invoice] = await records(sandbox_http, "invoice", number="20260001")
    assert (invoice.netamount, invoice.vat, invoice.totalamount, invoice.balance) == (
        Decimal("120.00"),
        Decimal("28.80"),
        Decimal("148.80"),
        Decimal("148.80"),
    )
    assert invoice.confirmed is False
    assert invoice.ts.date() >= date(2025, 7, 1)  # stamped "now", after all seeded data
    assert invoice in await records(sandbox_http, "invoice", ts="01.07.2025")
    [again] = await put(sandbox_http, invoice_xml())
    assert (again.type, again.kind) == (11, PutResultKind.DUPLICATE)


@pytest.mark.parametrize(
    ("xmldata", "type_", "desc"),
    [
        (invoice_xml(number=""), 12, "Missing document identificator"),
        (invoice_xml(number="12a"), 9, "Error on import: invalid document number '12a'"),
        (
            invoice_xml(number="2147483648"),
            9,
            "Error on import: invalid document number '2147483648'",
        ),
        (invoice_xml(number="100002"), 14, "Update not allowed (confirmed)"),
        (invoice_xml(customer=""), 13, "Missing customer code"),
        (invoice_xml(customer="K999999"), 31, "Customer not found: K999999"),
        (invoice_xml(customer="K000004"), 13, "Missing customer email or reg.no"),
        (
            invoice_xml(rows='<row item="NOPE" quantity="1" price="1"/>'),
            31,
            "Article not found: NOPE",
        ),
        (
            invoice_xml(rows='<row item="KONS" quantity="1" price="1" vatcode="77"/>'),
            31,
            "VAT code not found: 77",
        ),
        (
            invoice_xml(rows='<row item="KONS" quantity="1" price="1" object="XX"/>'),
            31,
            "Object not found: XX",
        ),
        (invoice_xml(extra='salesman="NOBODY"'), 31, "Salesman not found: NOBODY"),
        (
            invoice_xml(rows='<row item="KONS" quantity="x" price="1"/>'),
            9,
            "Error on import: [<class 'decimal.ConversionSyntax'>]",
        ),
        ("<invoices><invoice", 8, "Invalid xml given"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><invoices/>', 8, "Invalid xml given"),
        ("<invoices></invoices>", 99, "No processable XML data found"),
        ("", 99, "No processable XML data found"),
    ],
)
async def test_put_result_types(
    sandbox_http: httpx.AsyncClient, xmldata: str, type_: int, desc: str
) -> None:
    [answer] = await put(sandbox_http, xmldata)
    assert (answer.type, answer.desc) == (type_, desc)


async def test_inline_email_satisfies_type_13_and_confirm_is_kept(
    sandbox_http: httpx.AsyncClient,
) -> None:
    [answer] = await put(
        sandbox_http, invoice_xml(customer="K000004", extra='email="a@b.ee" confirm="1"')
    )
    assert answer.ok
    [invoice] = await records(sandbox_http, "invoice", number="20260001")
    assert invoice.confirmed is True
    [resent] = await put(sandbox_http, invoice_xml(customer="K000004", extra='email="a@b.ee"'))
    assert (resent.type, resent.kind) == (14, PutResultKind.CONFIRMED_LOCKED)


async def test_one_result_per_document(sandbox_http: httpx.AsyncClient) -> None:
    two = invoice_xml(number="20260001").replace("</invoices>", "") + invoice_xml(
        number=""
    ).removeprefix("<invoices>")
    answers = await put(sandbox_http, two)
    assert [(a.type, a.docid) for a in answers] == [(30, "20260001"), (12, None)]


# -- receipts ------------------------------------------------------------------------------
async def test_confirmed_receipt_put_settles_the_invoice(sandbox_http: httpx.AsyncClient) -> None:
    await put(sandbox_http, invoice_xml())
    receipt = (
        '<receipts><receipt number="800001" date="2025-07-02" paymentmode="PANK" confirm="1">'
        '<rows><row invoice="20260001" customer="K000002" received="48.80"/></rows>'
        "</receipt></receipts>"
    )
    [answer] = await put(sandbox_http, receipt, what="receipt")
    assert (answer.type, answer.docid) == (0, "800001")
    [invoice] = await records(sandbox_http, "invoice", number="20260001")
    assert invoice.balance == Decimal("100.00")
    [stored] = await records(sandbox_http, "receipt", number="800001")
    assert (stored.confirmed, stored.rows[0].received) == (True, Decimal("48.80"))
    [dup] = await put(sandbox_http, receipt, what="receipt")
    assert dup.kind is PutResultKind.DUPLICATE


async def test_unconfirmed_receipts_do_not_settle_until_confirmed(
    sandbox_http: httpx.AsyncClient, state: SandboxState
) -> None:
    await put(sandbox_http, invoice_xml())
    no_mode = (
        '<receipts><receipt number="800002" confirm="1"><rows><row invoice="20260001" '
        'received="148.80"/></rows></receipt></receipts>'
    )
    [answer] = await put(sandbox_http, no_mode, what="receipt")
    assert (answer.type, answer.kind) == (29, PutResultKind.NOT_CONFIRMED)
    [before] = await records(sandbox_http, "invoice", number="20260001")
    assert before.balance == Decimal("148.80")
    confirmed = await sandbox_http.post("/_sandbox/databases/demo_ee/receipts/800002/confirm")
    assert confirmed.json()["attrs"]["confirmed"] == "1"
    [after] = await records(sandbox_http, "invoice", number="20260001")
    assert after.balance == Decimal("0.00")
    assert after.ts > before.ts


async def test_admin_receipt_on_a_seeded_invoice(sandbox_http: httpx.AsyncClient) -> None:
    unpaid = next(i for i in await records(sandbox_http, "invoice") if i.balance == i.totalamount)
    response = await sandbox_http.post(
        "/_sandbox/databases/demo_ee/receipts", json={"invoice": unpaid.number, "amount": "10.00"}
    )
    assert response.status_code == 201
    [after] = await records(sandbox_http, "invoice", number=unpaid.number)
    assert after.balance == unpaid.balance - Decimal("10.00")
    shown = (await sandbox_http.get(f"/_sandbox/databases/demo_ee/invoices/{unpaid.number}")).json()
    assert shown["attrs"]["balance"] == str(after.balance)


async def test_receipts_come_dated_on_their_rows_unless_header_dates_are_asked_for(
    sandbox_http: httpx.AsyncClient, state: SandboxState
) -> None:
    await put(sandbox_http, invoice_xml())
    two_months = (
        '<receipts><receipt number="800003" date="2025-06-30" paymentmode="PANK" confirm="1">'
        '<rows><row invoice="20260001" customer="K000002" received="40.00"/>'
        '<row invoice="20260001" customer="K000002" received="8.80" aeg="2025-07-01"/></rows>'
        "</receipt></receipts>"
    )
    await put(sandbox_http, two_months, what="receipt")
    raw = (await get(sandbox_http, "receipt")).text
    assert "<receipt " in raw
    assert " aeg=" in raw  # on the rows ...
    assert 'paymentmode="' not in raw  # ... but never on a header, as ws_laekumised.xsd has it
    receipts = await records(sandbox_http, "receipt")
    assert all(r.aeg is None and r.paymentmode is None for r in receipts)
    assert all(row.aeg is not None for r in receipts for row in r.rows)
    # Periods filter by the rows' dates: the receipt is in June and in July.
    june = await records(sandbox_http, "receipt", date1="01.06.2025", date2="30.06.2025")
    july = await records(sandbox_http, "receipt", date1="01.07.2025", date2="31.07.2025")
    assert "800003" in {r.number for r in june}
    assert [r.number for r in july] == ["800003"]
    [stored] = july
    assert [row.aeg for row in stored.rows] == [date(2025, 6, 30), date(2025, 7, 1)]

    state.add_database(replace(state.database("demo_ee").spec, receipt_header_dates=True))
    await put(sandbox_http, invoice_xml())
    await put(sandbox_http, two_months, what="receipt")
    wiki_shaped = await records(sandbox_http, "receipt")
    assert all(r.aeg is not None and r.paymentmode == "PANK" for r in wiki_shaped)
    assert next(r for r in wiki_shaped if r.number == "800003").aeg == date(2025, 6, 30)


async def test_receipt_put_for_an_unknown_invoice_and_without_number(
    sandbox_http: httpx.AsyncClient,
) -> None:
    bad = (
        '<receipts><receipt number="5"><rows><row invoice="1" received="1"/></rows>'
        "</receipt></receipts>"
    )
    [answer] = await put(sandbox_http, bad, what="receipt")
    assert (answer.type, answer.desc) == (31, "Invoice not found: 1")
    [missing] = await put(sandbox_http, "<receipts><receipt/></receipts>", what="receipt")
    assert missing.type == 12


# -- card mutations ------------------------------------------------------------------------
async def test_card_changes_are_picked_up_by_incremental_reads(
    sandbox_http: httpx.AsyncClient,
) -> None:
    base = "/_sandbox/databases/demo_ee"
    changed = await sandbox_http.put(f"{base}/customers/K000005", json={"name": "Uus Nimi OÜ"})
    added = await sandbox_http.put(
        f"{base}/customers/NEW1", json={"name": "Šveitsi Žalusii AS", "email": "x@y.ee"}
    )
    gone = await sandbox_http.delete(f"{base}/customers/K000006")
    item = await sandbox_http.put(f"{base}/items/KONS", json={"name": "Nõustamine", "closed": 1})
    assert (changed.status_code, added.status_code, gone.status_code, item.status_code) == (
        200,
        200,
        204,
        200,
    )
    recent = await records(sandbox_http, "customer", ts="01.07.2025")
    assert [(c.code, c.name) for c in recent] == [
        ("K000005", "Uus Nimi OÜ"),
        ("NEW1", "Šveitsi Žalusii AS"),
    ]
    everyone = await records(sandbox_http, "customer")
    assert len(everyone) == 120
    assert "K000006" not in {c.code for c in everyone}
    [kons] = await records(sandbox_http, "item", ts="01.07.2025")
    assert (kons.code, kons.name, kons.closed) == ("KONS", "Nõustamine", True)


# -- faults, admin, log --------------------------------------------------------------------
async def test_faults_are_seeded_and_deterministic(
    sandbox_http: httpx.AsyncClient, state: SandboxState
) -> None:
    async def outcomes() -> list[int | str]:
        seen: list[int | str] = []
        for _ in range(12):
            response = await get(sandbox_http, "item")
            if response.status_code != 200:
                seen.append(response.status_code)
                continue
            try:
                codec.decode_feed(feeds.ITEMS, response.content)
                seen.append("ok")
            except DirectoTruncatedError:
                seen.append("cut")
        return seen

    await sandbox_http.put(
        "/_sandbox/databases/demo_ee/faults",
        json={"error_rate": 0.3, "truncate_rate": 0.3, "seed": 7},
    )
    first = await outcomes()
    state.database("demo_ee").set_faults(Faults(error_rate=0.3, truncate_rate=0.3, seed=7))
    assert await outcomes() == first
    assert {503, "cut", "ok"} == set(first)


async def test_admin_routes_and_request_log_hold_no_token(
    sandbox_http: httpx.AsyncClient, state: SandboxState
) -> None:
    created = await sandbox_http.post(
        "/_sandbox/databases",
        json={"name": "extra", "country": "LV", "today": "2025-01-31", "sizes": {"customers": 3}},
    )
    token = await sandbox_http.post(
        "/_sandbox/tokens",
        json={"token": "tok-extra-9876", "database": "extra", "components": ["get:customer"]},
    )
    assert (created.status_code, token.status_code) == (201, 201)
    assert len(await records(sandbox_http, "customer", token="tok-extra-9876")) == 3
    assert (
        await sandbox_http.post(
            "/_sandbox/tokens/license", json={"token": "tok-extra-9876", "components": ["get:item"]}
        )
    ).status_code == 200
    assert (await get(sandbox_http, "customer", token="tok-extra-9876")).content.endswith(
        b'type="5" desc="Unauthorized"/>'
    )
    await sandbox_http.post("/_sandbox/tokens/revoke", json={"token": EE})
    assert (await get(sandbox_http, "item")).content.endswith(b'desc="Unauthorized"/>')
    log = (await sandbox_http.get("/_sandbox/requests")).json()
    assert [entry["outcome"] for entry in log] == [
        "feed",
        "unauthorized (component not licensed)",
        "unauthorized",
    ]
    assert log[0]["token"].endswith("…9876")
    assert log[0]["token"].startswith("sha256:")
    assert "tok-extra-9876" not in str(log)
    assert EE not in str(log)
    assert log[0]["params"] == {"get": "1", "what": "customer"}
    described = (await sandbox_http.get("/_sandbox/databases")).json()
    assert [d["name"] for d in described] == ["demo_ee", "demo_lv", "extra"]
    assert (
        await sandbox_http.post("/_sandbox/tokens", json={"token": "x", "database": "no"})
    ).status_code == 404
    assert (
        await sandbox_http.put("/_sandbox/databases/demo_ee/faults", json={"nope": 1})
    ).status_code == 400
    assert (await sandbox_http.post("/_sandbox/reset")).json() == {"ok": True}
    assert state.requests == []
    assert "extra" not in state.databases
    assert (await sandbox_http.get("/_sandbox/health")).json() == {"ok": True}
