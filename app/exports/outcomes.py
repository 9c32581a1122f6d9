"""Reading Directo's answer to an invoice put — pure functions, no I/O.

* `problem_for` turns a failing `<Result>` into the export's problem: the same codes as
  the pre-flight checks where Directo's text allows (`article_unknown`,
  `vat_code_unknown`, `salesman_unknown` — an unknown object is the same resource code —,
  `customer_unknown`, `customer_missing_regno_or_email`, `unauthorized`,
  `payment_term_unknown`), else the result's kind; Directo's own `Type` and `Desc`
  always travel in `context`, and the row is named when Directo's text names one of its
  codes.
* `refused_in_words` is the problem of a put Directo answered with an error text only
  (no Type) when a look-up shows it stored nothing: `directo_refused`, its words kept.
* `is_ours` decides whether an invoice Directo already holds under our number is the one
  this export sent (same customer, same net total), which is what makes a re-sent or
  duplicate-answered put safe.
* `answer_xml` writes the results back as Directo's `<results>` document, for the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from app.directo.errors import REGENERATE_KEY_HINT
from app.directo.schemas import DirectoInvoice, PutResult, PutResultKind
from app.directo.values import escape_attr
from app.errors import ProblemItem

_FIXES: dict[PutResultKind, tuple[str, str]] = {
    PutResultKind.ARTICLE_UNKNOWN: (
        "article_unknown",
        "Import the article into Uku and re-link, or fix the product's external code to an "
        "existing Directo article code.",
    ),
    PutResultKind.VAT_CODE_UNKNOWN: (
        "vat_code_unknown",
        "Set the VAT code's external code in Uku to a VAT code that exists in Directo.",
    ),
    PutResultKind.SALESMAN_UNKNOWN: (
        "salesman_unknown",
        "Set the external code of the resource (or the client's default user) in Uku to an "
        "object/salesman code that exists in Directo.",
    ),
    PutResultKind.OBJECT_UNKNOWN: (
        "salesman_unknown",
        "Set the external code of the resource (or the client's default resource) in Uku to "
        "an object code that exists in Directo.",
    ),
    PutResultKind.CUSTOMER_UNKNOWN: (
        "customer_unknown",
        "Link the client to an existing Directo customer, or import customers again.",
    ),
    PutResultKind.CUSTOMER_MISSING_REGNO_OR_EMAIL: (
        "customer_missing_regno_or_email",
        "Add an e-mail address or a registration number to the customer's card in Directo "
        "(then import customers again), or send the client's client_email or client_regno "
        "with the invoice; then export again with a new key.",
    ),
    PutResultKind.UNAUTHORIZED: ("unauthorized", REGENERATE_KEY_HINT),
}


# Directo's text for an unknown payment term is not public (PROTOCOL §3.5, §8): like the
# other unknown codes it is taken to be a failing Type (9, 31 or another) whose Desc
# names the field, in English or Estonian ("maksetingimus"). Result kinds with a meaning
# of their own (duplicate, Type 13 …) are never read as one.
_TERM_WORDS = ("payment term", "paymentterm", "payterm", "maksetingimus", "maksetähtaeg")
_MAY_NAME_A_TERM = frozenset(
    {
        PutResultKind.IMPORT_ERROR,
        PutResultKind.NOT_FOUND,
        PutResultKind.OTHER,
        PutResultKind.CUSTOMER_UNKNOWN,
        PutResultKind.ARTICLE_UNKNOWN,
        PutResultKind.VAT_CODE_UNKNOWN,
        PutResultKind.SALESMAN_UNKNOWN,
        PutResultKind.OBJECT_UNKNOWN,
    }
)


def _mentions(text: str, code: str | None) -> bool:
    if not code:
        return False
    return re.search(rf"(?<![\w]){re.escape(code)}(?![\w])", text) is not None


def _locate(
    kind: PutResultKind, desc: str, rows: Sequence[dict[str, Any]]
) -> tuple[list[str | int], dict[str, Any]]:
    """The invoice row (or header field) Directo's text points at, if it names a code."""
    fields = {
        PutResultKind.ARTICLE_UNKNOWN: ("item", "article_code"),
        PutResultKind.VAT_CODE_UNKNOWN: ("vatcode", "vat_code"),
        PutResultKind.OBJECT_UNKNOWN: ("object", "resource_id"),
        PutResultKind.SALESMAN_UNKNOWN: ("object", "resource_id"),
    }.get(kind)
    if fields is None:
        return [], {}
    attr, field = fields
    for index, row in enumerate(rows):
        if _mentions(desc, row.get(attr)):
            return ["rows", index, field], {"row": index, "code": row.get(attr)}
    return [], {}


def _refuses_payment_term(result: PutResult) -> bool:
    lowered = result.desc.lower()
    return result.kind in _MAY_NAME_A_TERM and any(word in lowered for word in _TERM_WORDS)


def _term_problem(paymentterm: str | None) -> tuple[str, str, list[str | int], dict[str, Any]]:
    term = paymentterm or "?"
    fix = (
        f"Map this payment term to a code of the Directo database's payment-term register: "
        f'PUT …/directo/connection/payment-terms {{"codes": {{"<days>": "<code>"}}}} (the '
        f"invoice sent {term!r}), or add a payment term with code {term!r} in Directo."
    )
    return "payment_term_unknown", fix, ["due_date"], {"paymentterm": paymentterm}


def problem_for(
    result: PutResult, rows: Sequence[dict[str, Any]] = (), *, paymentterm: str | None = None
) -> ProblemItem:
    """The export problem for a failing result; `rows` are the sent rows' attributes and
    `paymentterm` the term code the invoice carried."""
    if _refuses_payment_term(result):
        code, fix, loc, context = _term_problem(paymentterm)
    else:
        code, fix = _FIXES.get(result.kind, (result.kind.value, result.hint))
        loc, context = _locate(result.kind, result.desc, rows)
    return ProblemItem(
        code=code,
        message=f"Directo refused the invoice: {result.desc or 'no description'} "
        f"(Type {result.type}).",
        loc=loc,
        fix=fix,
        context={**context, "directo_type": result.type, "directo_desc": result.desc},
    )


def refused_in_words(text: str) -> ProblemItem:
    """Directo answered the put with an error text only, and holds no invoice under the
    number: a refusal in its words (no Type to map to a code of ours)."""
    return ProblemItem(
        code="directo_refused",
        message=f"Directo refused the invoice: {text}",
        fix=(
            "Correct what Directo's message names (in Uku, or in Directo's registers), "
            "then export again with a new key."
        ),
        context={"directo_desc": text},
    )


def duplicate_problem(
    number: int, found: DirectoInvoice | None, result: PutResult | None
) -> ProblemItem:
    """Directo holds another invoice under our number (`result`: its answer to our put,
    None when a look-up found it before any put was answered)."""
    held = f" (customer {found.customercode!r}, net {found.netamount})" if found is not None else ""
    return ProblemItem(
        code="duplicate_number",
        message=f"Directo already has a different invoice number {number}{held}.",
        loc=["number"],
        fix=(
            "Use an invoice number series that does not collide with Directo's own invoice "
            "numbers, or remove the other invoice in Directo, then export with a new key."
        ),
        context={
            "number": number,
            **({"directo_type": result.type, "directo_desc": result.desc} if result else {}),
        },
    )


def is_ours(
    found: DirectoInvoice, *, customer_code: str, net_total: Decimal, row_count: int
) -> bool:
    """Whether `found` is the invoice an export sent: same customer and net total (within
    a cent per row for rounding), or the same customer when Directo shows no amounts."""
    if (found.customercode or "").strip() != customer_code:
        return False
    net = found.netamount
    if net is None and found.rows:
        sums = [row.sum for row in found.rows if row.sum is not None]
        net = sum(sums, Decimal(0)) if sums else None
    if net is None:
        return True
    return abs(net - net_total) <= Decimal("0.01") * max(1, row_count)


def answer_xml(results: Iterable[PutResult]) -> str:
    """Directo's answer as its `<results>` document (the attributes it sent, in order)."""
    parts = []
    for result in results:
        attrs = [("Type", str(result.type)), ("Desc", result.desc)]
        attrs += [
            (name, value)
            for name, value in (
                ("docid", result.docid),
                ("doctype", result.doctype),
                ("submit", result.submit),
            )
            if value is not None
        ]
        rendered = "".join(f' {name}="{escape_attr(value)}"' for name, value in attrs)
        parts.append(f"<Result{rendered}/>")
    return f"<results>{''.join(parts)}</results>"
