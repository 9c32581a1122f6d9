"""One sandbox database: the seeded `Dataset` plus an overlay of everything changed since.

The overlay holds only mutations (edited/deleted/added cards, put invoices, receipts), so
feeds stay lazy: they walk the seeded indices, substitute overlay records, and append new
ones. Every mutation stamps ``ts`` with the sandbox's "now" (never earlier than the end of
its "today"), so incremental reads by ``ts`` pick it up. Thread-safe: the ASGI server
thread and a test thread may use one database at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.directo.sandbox.config import DatabaseSpec, Faults
from app.directo.sandbox.data import (
    RECEIPT_BASE,
    RECEIPT_HEADER_DATES,
    Attrs,
    Dataset,
    Rec,
    iso,
    money,
)
from app.directo.sandbox.filters import Filters


class SandboxDatabase:
    """Seeded data, mutations, fault settings and counters of one Directo database."""

    def __init__(self, spec: DatabaseSpec, *, clock: Callable[[], datetime]) -> None:
        self.spec = spec
        self._clock = clock
        self.today = spec.today or clock().date()
        self.data = Dataset(spec, self.today)
        self.vat_rates = dict(self.data.words.vat_rates)
        # Firms that bill by resource keep an object per employee, so a person's code is
        # both a salesman and an object code (what invoice rows carry as `object`).
        self.objects = set(self.data.words.objects) | set(self.data.words.salesmen)
        self.salesmen = set(self.data.words.salesmen)
        # The payment-term register; None takes any term. Real databases refuse a code
        # they do not hold (its answer text is inferred: see `puts._unknown_code`).
        self.payment_terms: set[str] | None = None
        self._lock = threading.RLock()
        self._customers: dict[str, Rec | None] = {}
        self._items: dict[str, Rec | None] = {}
        self.invoices: dict[str, Rec] = {}  # put invoices by number
        self.receipts: dict[str, Rec] = {}  # put/added receipts by number
        self._paid: dict[str, tuple[Decimal, str]] = {}  # invoice → (confirmed paid, ts)
        self._last = datetime.min
        # Bumped by every mutation: rendered feeds cached under an older version are stale.
        self.version = 0
        self.set_faults(Faults())

    # -- time and faults ------------------------------------------------------------------
    def now(self) -> str:
        """A ``ts`` for a mutation: after all seeded data and strictly increasing."""
        with self._lock:
            floor = datetime.combine(self.today, datetime.max.time()).replace(microsecond=0)
            moment = max(self._clock().replace(microsecond=0), floor + timedelta(seconds=1),
                         self._last + timedelta(seconds=1))  # fmt: skip
            self._last = moment
            self.version += 1
            return iso(moment)

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings and restart their seeded random sequence."""
        with self._lock:
            self.faults = faults
            self._fault_rng = random.Random(faults.seed)
            self._puts_to_drop = faults.drop_puts

    def roll_fault(self) -> str | None:
        """``"error"``, ``"truncate"``, ``"drop"`` or ``None`` for the next request."""
        with self._lock:
            f, roll = self.faults, self._fault_rng.random()
        for name, rate in (("error", f.error_rate), ("truncate", f.truncate_rate),
                           ("drop", f.drop_rate)):  # fmt: skip
            if roll < rate:
                return name
            roll -= rate
        return None

    def take_put_drop(self) -> bool:
        """Whether to drop this put's answer (after applying it): counts ``drop_puts`` down."""
        with self._lock:
            if self._puts_to_drop <= 0:
                return False
            self._puts_to_drop -= 1
            return True

    # -- cards ----------------------------------------------------------------------------
    def customer(self, code: str) -> Rec | None:
        """The current customer ``code`` (overlay first), or ``None`` when absent/deleted."""
        with self._lock:
            if code in self._customers:
                return self._customers[code]
        index = self.data.customer_index(code)
        return (
            self.data.customer(index)
            if index is not None and index < self.data.sizes.customers
            else None
        )

    def item_codes(self) -> set[str]:
        with self._lock:
            overlay = dict(self._items)
        codes = {code for code in self.data.item_codes if code not in overlay}
        return codes | {code for code, rec in overlay.items() if rec is not None}

    def upsert_customer(self, code: str, attrs: dict[str, Any], *, ts: str | None = None) -> Attrs:
        """Change (or add) a customer's attributes; bumps its ``ts`` (or sets the ``ts``
        given, e.g. one with a zone offset). A ``code`` in ``attrs`` is what the feed then
        shows under ``code`` (``""``: a record without a code). Returns the new card."""
        current = self.customer(code)
        base = dict(current[0]) if current else {"code": code, "closed": "0"}
        children = current[1] if current else {"datafields": []}
        stamp = self.now()  # also marks the database changed (rendered feeds are stale)
        base.update({key: str(value) for key, value in attrs.items()}, ts=ts or stamp)
        base.setdefault("code", code)
        with self._lock:
            self._customers[code] = (base, children)
        return base

    def delete_customer(self, code: str) -> None:
        with self._lock:
            self._customers[code] = None
            self.version += 1

    def upsert_item(
        self,
        code: str,
        attrs: dict[str, Any],
        *,
        ts: str | None = None,
        supplieritems: list[dict[str, str]] | None = None,
    ) -> Attrs:
        """Change (or add) an item like `upsert_customer`; ``supplieritems`` replaces its
        ``supplieritems/supplieritem`` children. Returns the new card."""
        with self._lock:
            current = self._items.get(code) if code in self._items else self._seeded_item(code)
        base = dict(current[0]) if current else {"code": code, "closed": "0"}
        stamp = self.now()
        base.update({key: str(value) for key, value in attrs.items()}, ts=ts or stamp)
        base.setdefault("code", code)
        suppliers = (
            supplieritems
            if supplieritems is not None
            else (current[1].get("supplieritems", []) if current else [])
        )
        with self._lock:
            self._items[code] = (base, {"datafields": [], "supplieritems": suppliers})
        return base

    def delete_item(self, code: str) -> None:
        with self._lock:
            self._items[code] = None
            self.version += 1

    def _seeded_item(self, code: str) -> Rec | None:
        codes = self.data.item_codes
        return self.data.item(codes.index(code)) if code in codes else None

    # -- documents ------------------------------------------------------------------------
    def seeded_invoice(self, number: str) -> Rec | None:
        index = int(number) - 100_001 if number.isdigit() else -1
        if 0 <= index < self.data.invoice_count:
            return self._settled(self.data.invoice(index)[0])
        return None

    def invoice(self, number: str) -> Rec | None:
        with self._lock:
            put = self.invoices.get(number)
        return self._settled(put) if put else self.seeded_invoice(number)

    def store_invoice(self, attrs: Attrs, rows: list[Attrs]) -> None:
        """Keep a put invoice; it joins the invoice feed after the seeded ones."""
        with self._lock:
            self.invoices[attrs["number"]] = (attrs, {"rows": rows})
            self.version += 1

    def _settled(self, rec: Rec) -> Rec:
        attrs, children = rec
        with self._lock:
            paid = self._paid.get(attrs["number"])
        if paid is None:
            return rec
        amount, ts = paid
        attrs = dict(attrs, balance=money(Decimal(attrs["balance"]) - amount),
                     ts=max(ts, attrs["ts"]))  # fmt: skip
        return attrs, children

    def add_receipt(self, attrs: dict[str, str], rows: list[dict[str, str]]) -> Rec:
        """Store a receipt; if confirmed, its rows reduce their invoices' balances."""
        with self._lock:
            number = attrs.get("number") or str(RECEIPT_BASE + 50_000 + len(self.receipts) + 1)
            ts = self.now()
            attrs = {"paymentmode": "", "confirmed": "0", **attrs, "number": number, "ts": ts}
            rec: Rec = (attrs, {"rows": rows})
            self.receipts[number] = rec
            if attrs["confirmed"] == "1":
                self._settle(rows, ts)
            return rec

    def confirm_receipt(self, number: str) -> Rec | None:
        """Confirm a stored receipt (once); its rows then settle their invoices."""
        with self._lock:
            rec = self.receipts.get(number)
            if rec is None or rec[0]["confirmed"] == "1":
                return rec
            ts = self.now()
            rec = (dict(rec[0], confirmed="1", ts=ts), rec[1])
            self.receipts[number] = rec
            self._settle(rec[1]["rows"], ts)
            return rec

    def _settle(self, rows: list[dict[str, str]], ts: str) -> None:
        for row in rows:
            invoice = row.get("invoice", "")
            amount = Decimal(row.get("received") or row.get("payment") or "0")
            before, _ = self._paid.get(invoice, (Decimal(0), ts))
            self._paid[invoice] = (before + amount, ts)

    # -- feeds ----------------------------------------------------------------------------
    def records(self, what: str, filters: Filters) -> Iterator[Rec]:
        """The records of one component that pass ``filters``, generated lazily."""
        source = {"customer": self._customer_records, "item": self._item_records,
                  "invoice": self._invoice_records, "receipt": self._receipt_records,
                  "purchase": self._purchase_records,
                  "transaction": self._transaction_records}[what]  # fmt: skip
        return (rec for rec in source(filters) if filters.matches(what, *rec))

    def _customer_records(self, f: Filters) -> Iterator[Rec]:
        data = self.data
        with self._lock:
            overlay = dict(self._customers)
        if f.code is not None:
            rec = self.customer(f.code)
            yield from [rec] if rec else []
            return
        for index in range(data.sizes.customers):
            code = data.customer_code(index)
            if code in overlay:
                rec = overlay.pop(code)
                if rec is not None:
                    yield rec
                continue
            if f.ts is not None and data.customer_ts(index) < f.ts:
                continue
            if f.closed is not None and data.customer_closed(index) != (f.closed == "1"):
                continue
            yield data.customer(index)
        yield from (rec for rec in overlay.values() if rec is not None)

    def _item_records(self, f: Filters) -> Iterator[Rec]:
        with self._lock:
            overlay = dict(self._items)
        for index, code in enumerate(self.data.item_codes):
            rec = overlay.pop(code) if code in overlay else self.data.item(index)
            if rec is not None:
                yield rec
        yield from (rec for rec in overlay.values() if rec is not None)

    def _invoice_records(self, f: Filters) -> Iterator[Rec]:
        if f.number is not None:
            rec = self.invoice(f.number)
            yield from [rec] if rec else []
            return
        for index in range(self.data.invoice_count):
            yield self._settled(self.data.invoice(index)[0])
        with self._lock:
            extra = list(self.invoices.values())
        yield from (self._settled(rec) for rec in extra)

    def _receipt_records(self, f: Filters) -> Iterator[Rec]:
        for index in range(self.data.invoice_count):
            rec = self.data.receipt(index)
            if rec is not None:
                yield rec
        with self._lock:
            extra = list(self.receipts.values())
        if self.spec.receipt_header_dates:
            yield from extra
            return
        # Stored with the header date the put or admin call gave; served as the schema has it.
        for attrs, children in extra:
            header = {k: v for k, v in attrs.items() if k not in RECEIPT_HEADER_DATES}
            yield header, children

    def _purchase_records(self, f: Filters) -> Iterator[Rec]:
        s = self.data.sizes
        yield from (self.data.purchase(i) for i in range(s.months * s.purchases_per_month))

    def _transaction_records(self, f: Filters) -> Iterator[Rec]:
        s = self.data.sizes
        yield from (self.data.transaction(i) for i in range(s.months * s.transactions_per_month))
