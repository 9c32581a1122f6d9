"""Writing put documents: sales invoices as ``xml_IN_arved`` XML.

Attributes that are unset (``None``) are left out rather than sent empty, so Directo
applies its own defaults; ``confirm="1"`` is written only when the input asks for it.
Every value goes through `escape_attr`, so any Unicode text round-trips.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from app.directo.schemas import DirectoInvoiceInput, DirectoInvoiceRowInput
from app.directo.values import escape_attr, format_decimal

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_HEADER_FIELDS = (
    "customercode", "customername", "date", "duedate", "paymentterm", "currency", "salesman",
    "object", "comment", "language", "vatzone", "email", "customer_regno",
)  # fmt: skip
_ROW_FIELDS = (
    "item", "description", "quantity", "price", "vatcode", "object", "unit", "account", "project",
)  # fmt: skip


def _value(value: object) -> str:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _attributes(pairs: Iterable[tuple[str, object]]) -> str:
    out = []
    for name, value in pairs:
        if value is None:
            continue
        text = _value(value)
        if _NOT_XML.search(text):
            raise ValueError(f"{name!r} holds a control character XML cannot carry")
        out.append(f' {name}="{escape_attr(text)}"')
    return "".join(out)


def _row(row: DirectoInvoiceRowInput) -> str:
    return f"<row{_attributes((name, getattr(row, name)) for name in _ROW_FIELDS)}/>"


def render_invoice(invoice: DirectoInvoiceInput) -> str:
    """One ``<invoice>`` element with its ``<rows>``."""
    pairs: list[tuple[str, object]] = [("number", invoice.number)]
    pairs += [(name, getattr(invoice, name)) for name in _HEADER_FIELDS]
    if invoice.confirm:
        pairs.append(("confirm", "1"))
    rows = "".join(_row(row) for row in invoice.rows)
    return f"<invoice{_attributes(pairs)}><rows>{rows}</rows></invoice>"


def render_invoices(invoices: Sequence[DirectoInvoiceInput]) -> str:
    """The ``xmldata`` of an invoice put: ``<invoices>`` with one element per invoice.

    Raises ``ValueError`` when a text holds a control character XML cannot carry.
    """
    body = "".join(render_invoice(invoice) for invoice in invoices)
    return f"{XML_DECLARATION}<invoices>{body}</invoices>"
