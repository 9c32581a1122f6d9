"""Lean records of the document feeds for the monthly statistics: only what a tally reads.

The statistics read whole months of invoices, receipts, purchases and ledger transactions
and keep a few values of each (a date, a customer code, an amount, how many rows). Building
the full models (`schemas.DirectoInvoice` …: every attribute converted, every row a model)
costs more than parsing the XML, so these feeds decode the same documents into small
NamedTuples with the same field names and types as the models' (``rows`` too, where a tally
reads it), and nothing else: no ``raw``, no rows that are only counted.

They accept exactly what the model feeds accept. Every value the model converts and could
refuse — decimals and dates, the rows' too, also the ones not kept — is checked, so a
document the model feed refuses raises the same `DirectoDecodeError` here. The common forms
(``1240.00``, ``2025-03-01T00:00:00``) are read directly; a record holding any other form
(an offset, a dotted date, an exponent, junk) goes through its model builder, which words
the error or reads the odd value, and its summary is taken from the model: one code path
decides what a value means (`summarize` is that mapping, and what the tests compare with).

Read them with `DirectoClient.iter_summaries` (or `iter_feed` with a feed of `BY_WHAT`; its
filters are the model feed's).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any, NamedTuple, NoReturn

from pydantic import BaseModel

from app.directo import feeds, schemas
from app.directo.feeds import Attrs, Children


class InvoiceSummary(NamedTuple):
    """A sales invoice as the statistics count it."""

    number: str
    date: dt.date | None
    customercode: str | None
    netamount: Decimal | None
    balance: Decimal | None
    row_count: int

    @property
    def rows(self) -> range:
        """One placeholder per row: ``len(rows)`` reads as on a `schemas.DirectoInvoice`."""
        return range(self.row_count)


class ReceiptRowSummary(NamedTuple):
    """A receipt row: when, from which customer, how much."""

    aeg: dt.date | None
    customer: str | None
    received: Decimal | None


class ReceiptSummary(NamedTuple):
    """A receipt with its rows (receipts are dated on their rows, see `compute`)."""

    number: str
    aeg: dt.date | None
    rows: tuple[ReceiptRowSummary, ...]

    def model_copy(self, *, update: dict[str, Any]) -> ReceiptSummary:
        """A copy with ``update``'s fields replaced, as pydantic's ``model_copy`` (the
        statistics router clips rows this way on either type)."""
        return self._replace(**update)


class PurchaseSummary(NamedTuple):
    """A purchase invoice: its date and total."""

    number: str
    date: dt.date | None
    sum: Decimal | None


class TransactionSummary(NamedTuple):
    """A ledger transaction: its date."""

    number: str
    date: dt.date | None


Summary = InvoiceSummary | ReceiptSummary | PurchaseSummary | TransactionSummary


class _Uncommon(Exception):
    """A value not in a common form: the record is read by its model builder instead."""


def _uncommon() -> NoReturn:
    raise _Uncommon


def summarize(record: BaseModel) -> Summary:
    """The summary of a model-built record: what the fast builders must equal."""
    if isinstance(record, schemas.DirectoInvoice):
        return InvoiceSummary(
            record.number,
            record.date,
            record.customercode,
            record.netamount,
            record.balance,
            len(record.rows),
        )
    if isinstance(record, schemas.DirectoReceipt):
        rows = tuple(ReceiptRowSummary(row.aeg, row.customer, row.received) for row in record.rows)
        return ReceiptSummary(record.number, record.aeg, rows)
    if isinstance(record, schemas.DirectoPurchase):
        return PurchaseSummary(record.number, record.date, record.sum)
    if isinstance(record, schemas.DirectoTransaction):
        return TransactionSummary(record.number, record.date)
    raise TypeError(f"no summary of {type(record).__name__}")


@dataclass(frozen=True, slots=True)
class Reading:
    """How a builder reads one element's attributes: ``kept`` (attribute, kind) pairs, in the
    summary's field order — kinds ``key`` (``""`` when absent), ``text`` (empty → None),
    ``decimal``, ``date``, or ``count``/``rows`` for the rows container — and the attributes
    it only ``checks`` (decimals, and ``moments``: dates and date-times)."""

    kept: tuple[tuple[str, str], ...]
    decimals: tuple[str, ...] = ()
    moments: tuple[str, ...] = ()


# Inline expressions reading attribute {a} through ``get`` (see `_compile`).
_KEEP = {
    "key": "{get}({a!r}) or ''",
    "text": "{get}({a!r}) or None",
    "decimal": (
        "((d if (d := _Decimal(v, _STRICT)).is_finite() else _uncommon())"
        " if (v := {get}({a!r})) else None)"
    ),
    "date": (
        "((d.date() if (d := _iso(v)).tzinfo is None else _uncommon())"
        " if (v := {get}({a!r})) else None)"
    ),
}
_CHECK_DECIMAL = "if (v := {get}({a!r})) and not _Decimal(v, _STRICT).is_finite(): _uncommon()"
_CHECK_MOMENT = "if (v := {get}({a!r})) and _iso(v).tzinfo is not None: _uncommon()"


def _checks(reading: Reading, get: str) -> list[str]:
    return [_CHECK_DECIMAL.format(get=get, a=a) for a in reading.decimals] + [
        _CHECK_MOMENT.format(get=get, a=a) for a in reading.moments
    ]


def _compile(
    summary: type[Summary],
    model_feed: feeds.Feed[Any],
    header: Reading,
    rows: Reading | None = None,
    row_summary: type[ReceiptRowSummary] | None = None,
) -> Callable[[Attrs, Children], Any]:
    """Generate a builder: one function, values read inline (Python calls are the cost per
    record), every record that raises handed to the model builder (`summarize` of it).

    Accepts what the model builder accepts: a decimal as ``Decimal(text)`` reads it (finite
    only), a date as ``datetime.fromisoformat`` does when naive — which is what
    `values.parse_date` does with such a value (a value ``fromisoformat`` reads never has a
    ``.`` in its first six characters, `values`' dotted form). The source is made from the
    readings' attribute names (``repr``-quoted) only, never from input.
    """
    lines = []
    if rows is not None:
        lines.append("entries = found.get('rows') or ()")
        keep_rows = row_summary is not None
        lines += ["rows = []"] if keep_rows else []
        lines += ["for entry in entries:", "    g = entry.get"]
        lines += [f"    {check}" for check in _checks(rows, "g")]
        if keep_rows:
            values = ", ".join(_KEEP[kind].format(get="g", a=a) for a, kind in rows.kept)
            lines.append(f"    rows.append(_new(_Row, ({values},)))")
    lines += _checks(header, "get")
    parts = []
    for attribute, kind in header.kept:
        if kind == "count":
            parts.append("len(entries)")
        elif kind == "rows":
            parts.append("tuple(rows)")
        else:
            parts.append(_KEEP[kind].format(get="get", a=attribute))
    lines.append(f"return _new(_Summary, ({', '.join(parts)},))")
    body = "".join(f"        {line}\n" for line in lines)
    source = (
        "def build(attrs, found=_EMPTY):\n"
        "    get = attrs.get\n"
        "    try:\n"
        f"{body}"
        "    except (ValueError, ArithmeticError, _Uncommon):\n"
        "        return _summarize(_model_build(attrs, found))\n"
    )
    namespace: dict[str, Any] = {
        "_EMPTY": _EMPTY,
        "_Decimal": Decimal,
        "_STRICT": _STRICT,
        "_iso": dt.datetime.fromisoformat,
        "_new": tuple.__new__,
        "_Summary": summary,
        "_Row": row_summary,
        "_Uncommon": _Uncommon,
        "_uncommon": _uncommon,
        "_summarize": summarize,
        "_model_build": model_feed.build,
    }
    exec(source, namespace)  # noqa: S102 - generated from attribute names only, see docstring
    build: Callable[[Attrs, Children], Any] = namespace["build"]
    return build


# Decimal(text, context) is exact; this context raises for malformed text whatever the
# calling thread's own context traps (as `feeds` does).
_STRICT = Context(traps=[InvalidOperation])
_EMPTY: Children = {}

# Every attribute a model converts and could refuse is kept or checked, the rows' too (a
# test holds these readings to the models' fields).
READINGS: dict[str, tuple[Reading, Reading | None]] = {
    "invoice": (
        Reading(
            (("number", "key"), ("date", "date"), ("customercode", "text"),
             ("netamount", "decimal"), ("balance", "decimal"), ("rows", "count")),
            decimals=("vat", "totalamount"),
            moments=("duedate", "transactiondate", "ts"),
        ),
        Reading((), decimals=("quantity", "price", "sum")),
    ),
    "receipt": (
        Reading((("number", "key"), ("aeg", "date"), ("rows", "rows")), moments=("ts",)),
        Reading((("aeg", "date"), ("customer", "text"), ("received", "decimal")),
                decimals=("invoicesum",)),
    ),
    "purchase": (
        Reading((("number", "key"), ("date", "date"), ("sum", "decimal")),
                decimals=("vat",), moments=("duedate", "ts")),
        None,
    ),
    "transaction": (
        Reading((("number", "key"), ("date", "date")), moments=("ts",)),
        Reading((), decimals=("debitamount", "creditamount"), moments=("date",)),
    ),
}  # fmt: skip


def _feed(summary: type[Summary], model_feed: feeds.Feed[Any]) -> feeds.Feed[Any]:
    header, rows = READINGS[model_feed.what]
    row_summary = ReceiptRowSummary if rows is not None and rows.kept else None
    return feeds.with_builder(model_feed, _compile(summary, model_feed, header, rows, row_summary))


INVOICES = _feed(InvoiceSummary, feeds.INVOICES)
RECEIPTS = _feed(ReceiptSummary, feeds.RECEIPTS)
PURCHASES = _feed(PurchaseSummary, feeds.PURCHASES)
TRANSACTIONS = _feed(TransactionSummary, feeds.TRANSACTIONS)
BY_WHAT: dict[str, feeds.Feed[Any]] = {
    feed.what: feed for feed in (INVOICES, RECEIPTS, PURCHASES, TRANSACTIONS)
}
