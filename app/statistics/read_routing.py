"""Routing the records of one planned read to the tallies of the clients it answers for.

A record goes to every client that takes the whole database, and to the clients linked to
its customer code (an invoice's ``customercode``; a receipt's rows' ``customer`` — a receipt
paying two customers goes to both, once each). The tallies keep their own filters (a linked
client counts only its code's rows), so routing decides only who sees a record, never what
it counts: a client's tally sees exactly the records its own filtered read would return.

Records are clipped to the read's span first (see `read_plan`): a document dated outside
it is dropped, a receipt keeps only its rows dated inside it — one whose rows all fall
outside is dropped whole, never passed on row-less (a row-less receipt counts for the whole
database by its header date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from app.directo import schemas
from app.statistics.compute import MonthlyTally
from app.statistics.read_plan import FeedRead

R = TypeVar("R")


class ReadRouter:
    """Feeds the batches of `read` to the tallies (by client id) it answers for."""

    def __init__(self, read: FeedRead, tallies: Mapping[str, MonthlyTally]) -> None:
        self.read = read
        self._date1, self._date2 = read.date1, read.date2
        self._whole: list[MonthlyTally] = []
        self._by_code: dict[str, list[MonthlyTally]] = {}
        for client_id in read.client_ids:
            tally = tallies[client_id]
            if tally.customer_code is None:
                self._whole.append(tally)
            else:
                self._by_code.setdefault(tally.customer_code, []).append(tally)
        adders: dict[str, Callable[[Sequence[Any]], None]] = {
            "invoice": self._add_invoices,
            "receipt": self._add_receipts,
            "purchase": self._add_dated(MonthlyTally.add_purchases),
            "transaction": self._add_dated(MonthlyTally.add_transactions),
        }
        self.add = adders[read.feed]

    def _in_span(self, day: dt.date | None) -> bool:
        return day is not None and self._date1 <= day <= self._date2

    def _targets(self, codes: Iterable[str | None]) -> list[MonthlyTally]:
        targets = list(self._whole)
        seen = {id(tally) for tally in targets}
        for code in codes:
            for tally in self._by_code.get(code or "", ()):
                if id(tally) not in seen:
                    seen.add(id(tally))
                    targets.append(tally)
        return targets

    def _add_invoices(self, invoices: Sequence[schemas.DirectoInvoice]) -> None:
        routed = _Routed[schemas.DirectoInvoice]()
        for invoice in invoices:
            if self._in_span(invoice.date):
                routed.add(self._targets((invoice.customercode,)), invoice)
        routed.flush(MonthlyTally.add_invoices)

    def _clip(self, receipt: schemas.DirectoReceipt) -> schemas.DirectoReceipt | None:
        if not receipt.rows:
            return receipt if self._in_span(receipt.aeg) else None
        rows = tuple(row for row in receipt.rows if self._in_span(row.aeg or receipt.aeg))
        if len(rows) == len(receipt.rows):
            return receipt
        return receipt.model_copy(update={"rows": rows}) if rows else None

    def _add_receipts(self, receipts: Sequence[schemas.DirectoReceipt]) -> None:
        routed = _Routed[schemas.DirectoReceipt]()
        for receipt in receipts:
            clipped = self._clip(receipt)
            if clipped is not None:
                routed.add(self._targets(row.customer for row in clipped.rows), clipped)
        routed.flush(MonthlyTally.add_receipts)

    def _add_dated(
        self, add: Callable[[MonthlyTally, list[Any]], None]
    ) -> Callable[[Sequence[Any]], None]:
        """Purchases and transactions: the whole database's work, dated by `date`."""

        def route(records: Sequence[Any]) -> None:
            kept = [record for record in records if self._in_span(record.date)]
            if kept:
                for tally in self._whole:
                    add(tally, kept)

        return route


class _Routed(Generic[R]):
    """One batch's records grouped by the tally they go to, in arrival order."""

    def __init__(self) -> None:
        self._groups: dict[int, tuple[MonthlyTally, list[R]]] = {}

    def add(self, tallies: Iterable[MonthlyTally], record: R) -> None:
        for tally in tallies:
            group = self._groups.get(id(tally))
            if group is None:
                group = self._groups[id(tally)] = (tally, [])
            group[1].append(record)

    def flush(self, add: Callable[[MonthlyTally, list[R]], None]) -> None:
        for tally, records in self._groups.values():
            add(tally, records)
