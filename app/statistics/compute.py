"""Monthly work statistics from Directo documents: pure tallying, no I/O.

A `MonthlyTally` is fed the records of each feed (read once for a whole date range) and
buckets them by calendar month. For a client linked to a customer of the company's
database it counts only that customer's documents; purchases and ledger transactions are
never read for such a client (the catalogue says they are the whole database's work).

Receipts are dated on their rows: Directo's receipt output schema gives the header only
``number``, ``confirmed`` and ``ts`` (the wiki also lists a header ``aeg``, used where a
row has no date). Each row's ``received`` counts in its own month; a receipt counts once
in every month in which it has a (counted) row — so a receipt whose rows fall in two
months counts in both, and the months' ``bank_transactions`` may add up to more than the
receipts read. A receipt with no dated row counts nowhere.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.directo import schemas
from app.statistics.fields import CATALOGUE, Scope
from app.statistics.import_days import add_months, first_of_month
from app.statistics.storage import mapped_keys

DOCUMENT_COUNTS = {
    "sales_invoices": "invoice",
    "bank_transactions": "receipt",
    "purchase_invoices": "purchase",
    "ledger_transactions": "transaction",
}
_SOURCE = {field.key: field.source for field in CATALOGUE}
_SCOPES = {field.key: frozenset(field.scopes) for field in CATALOGUE}
_ZERO = Decimal(0)


def supported_keys(keys: Iterable[str], scope: Scope) -> list[str]:
    """The catalogue fields among `keys` that make sense for a client of `scope`, in order."""
    wanted = set(keys)
    return [field.key for field in CATALOGUE if field.key in wanted and scope in _SCOPES[field.key]]


def feeds_for(keys: Iterable[str], scope: Scope) -> list[str]:
    """The Directo feeds (`what`) that must be read to compute `keys` for `scope`."""
    feeds: set[str] = set()
    for key in supported_keys(keys, scope):
        if key == "documents":
            feeds.update(
                source for count, source in DOCUMENT_COUNTS.items() if scope in _SCOPES[count]
            )
        else:
            feeds.add(_SOURCE[key])
    return sorted(feeds)


def feeds_of_mapping(field_mapping: Mapping[str, Any], own_connection: bool) -> list[str]:
    """The feeds a company's field mapping reads: for a client's own connection (its whole
    database) or the company's (linked customers). What `capabilities.configured_needs`
    asks statistics."""
    scope = Scope.OWN_CONNECTION if own_connection else Scope.LINKED_CUSTOMER
    return feeds_for(mapped_keys(dict(field_mapping)), scope)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of every month from `first`'s to `last`'s, inclusive."""
    months, month = [], first_of_month(first)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


@dataclass(slots=True)
class _Month:
    counts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    sums: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    customers: set[str] = field(default_factory=set)


class MonthlyTally:
    """Statistics of one client for the months `first`…`last`, fed by document batches."""

    def __init__(
        self,
        *,
        scope: Scope,
        first: dt.date,
        last: dt.date,
        customer_code: str | None = None,
    ) -> None:
        if scope is Scope.LINKED_CUSTOMER and not customer_code:
            raise ValueError("a linked client's statistics need its customer code")
        self.scope = scope
        self.customer_code = customer_code if scope is Scope.LINKED_CUSTOMER else None
        self.months = months_between(first, last)
        self._buckets = {month: _Month() for month in self.months}

    def _bucket(self, day: dt.date | None) -> _Month | None:
        return None if day is None else self._buckets.get(first_of_month(day))

    def _ours(self, customer_code: str | None) -> bool:
        return self.customer_code is None or customer_code == self.customer_code

    def add_invoices(self, invoices: Iterable[schemas.DirectoInvoice]) -> None:
        for invoice in invoices:
            bucket = self._bucket(invoice.date)
            if bucket is None or not self._ours(invoice.customercode):
                continue
            bucket.counts["sales_invoices"] += 1
            bucket.counts["sales_invoice_rows"] += len(invoice.rows)
            bucket.sums["sales_net_total"] += invoice.netamount or _ZERO
            if invoice.balance is not None and invoice.balance > 0:
                bucket.counts["unpaid_sales_invoices"] += 1
            if invoice.customercode:
                bucket.customers.add(invoice.customercode)

    def add_receipts(self, receipts: Iterable[schemas.DirectoReceipt]) -> None:
        for receipt in receipts:
            if not receipt.rows:
                # Nothing received and no customer: only the whole database counts it.
                bucket = self._bucket(receipt.aeg)
                if bucket is not None and self.customer_code is None:
                    bucket.counts["bank_transactions"] += 1
                continue
            counted: set[int] = set()  # ids of the month buckets this receipt counts in
            for row in receipt.rows:
                bucket = self._bucket(row.aeg or receipt.aeg)
                if bucket is None or not self._ours(row.customer):
                    continue
                bucket.sums["receipts_total"] += row.received or _ZERO
                if id(bucket) not in counted:
                    counted.add(id(bucket))
                    bucket.counts["bank_transactions"] += 1

    def add_purchases(self, purchases: Iterable[schemas.DirectoPurchase]) -> None:
        if self.scope is not Scope.OWN_CONNECTION:
            return
        for purchase in purchases:
            bucket = self._bucket(purchase.date)
            if bucket is not None:
                bucket.counts["purchase_invoices"] += 1
                bucket.sums["purchase_total"] += purchase.sum or _ZERO

    def add_transactions(self, transactions: Iterable[schemas.DirectoTransaction]) -> None:
        if self.scope is not Scope.OWN_CONNECTION:
            return
        for transaction in transactions:
            bucket = self._bucket(transaction.date)
            if bucket is not None:
                bucket.counts["ledger_transactions"] += 1

    def values(self, keys: Iterable[str]) -> dict[dt.date, dict[str, Decimal]]:
        """Every month's value of each of `keys` the client's scope supports (zeros included)."""
        wanted = supported_keys(keys, self.scope)
        return {month: self._month_values(self._buckets[month], wanted) for month in self.months}

    def _month_values(self, bucket: _Month, keys: list[str]) -> dict[str, Decimal]:
        values: dict[str, Decimal] = {}
        for key in keys:
            if key == "documents":
                value = Decimal(
                    sum(
                        bucket.counts[count]
                        for count in DOCUMENT_COUNTS
                        if self.scope in _SCOPES[count]
                    )
                )
            elif key == "active_customers":
                value = Decimal(len(bucket.customers))
            elif key in bucket.sums or key.endswith("_total"):
                value = bucket.sums[key].quantize(Decimal("0.01"))
            else:
                value = Decimal(bucket.counts[key])
            values[key] = value
        return values
