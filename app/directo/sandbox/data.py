"""Seeded, lazily generated Directo data: every record is a pure function of its index.

Nothing is stored: `Dataset.customer(i)` builds customer ``i`` on demand, so a 400k
customer feed costs no memory. Randomness comes from a splitmix64 stream keyed by
(seed, kind, index), so the same spec always yields the same data.

Rules tests may rely on (``i`` is the 0-based index; codes are ``K000001`` = index 0):
customers with ``i % 25 == 3`` have neither e-mail nor reg. no.; ``i % 17 == 5`` are
closed; items with ``i % 9 == 8`` are closed. Invoices are numbered from 100001, receipts
from 700001 (same offset as the invoice they pay), purchases from 300001, transactions
from 90001; receipts carry their date on their row (header dates only with the spec's
``receipt_header_dates``). Each invoice is, by its draw: paid by a confirmed receipt
(≈70 %), half paid (≈10 %), "paid" by an unconfirmed receipt that does not count (≈8 %),
or unpaid.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from app.directo.sandbox.config import DatabaseSpec
from app.directo.sandbox.words import ASCII, LOCALES

Attrs = dict[str, str]
Children = dict[str, list[Attrs]]
Rec = tuple[Attrs, Children]

_MASK = (1 << 64) - 1
CENT = Decimal("0.01")
INVOICE_BASE, RECEIPT_BASE, PURCHASE_BASE, TRANSACTION_BASE = 100_000, 700_000, 300_000, 90_000
# Receipt header attributes the wiki lists but Directo's output schema does not.
RECEIPT_HEADER_DATES = frozenset({"paymentmode", "aeg"})


class Draw:
    """A tiny deterministic random stream (splitmix64) for one record."""

    __slots__ = ("state",)

    def __init__(self, seed: int, kind: int, index: int) -> None:
        self.state = (seed * 0x9E3779B97F4A7C15 + kind * 0xD1B54A32D192ED03 + index) & _MASK

    def next(self) -> int:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n

    def pick(self, options: tuple[str, ...]) -> str:
        return options[self.next() % len(options)]


def iso(moment: datetime | date) -> str:
    """Directo's output form: ``2025-03-10T08:02:11`` (dates as midnight)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)  # Directo is naive
    return moment.isoformat(timespec="seconds")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


@dataclass(frozen=True, slots=True)
class Payment:
    receipt_date: date
    amount: Decimal
    confirmed: bool


class Dataset:
    """The seeded records of one database spec, relative to its "today"."""

    def __init__(self, spec: DatabaseSpec, today: date) -> None:
        self.spec, self.today, self.sizes = spec, today, spec.sizes
        self.words = LOCALES[spec.country]
        self.seed = spec.seed
        self._now = datetime(today.year, today.month, today.day, 23, 59, 59)  # Directo is naive
        self._start = _add_months(today.replace(day=1), -(self.sizes.months - 1))
        self.item_codes = tuple(self.item(i)[0]["code"] for i in range(self.sizes.items))
        # Documents are read far more often than there are of them (feeds filtered per
        # customer or per period all walk every invoice): generate each one once.
        self._invoices: dict[int, tuple[Rec, Payment | None]] = {}

    # -- cards ---------------------------------------------------------------------------
    @staticmethod
    def customer_code(index: int) -> str:
        return f"K{index + 1:06d}"

    @staticmethod
    def customer_index(code: str) -> int | None:
        if len(code) == 7 and code[0] == "K" and code[1:].isdigit():
            return int(code[1:]) - 1
        return None

    def customer_ts(self, index: int) -> str:
        draw = Draw(self.seed, 1, index)
        return iso(self._now - timedelta(seconds=draw.below(540 * 86_400) + 3600))

    @staticmethod
    def customer_closed(index: int) -> bool:
        return index % 17 == 5

    def customer(self, index: int) -> Rec:
        w, draw = self.words, Draw(self.seed, 2, index)
        person = draw.below(4) == 0
        if person:
            contact = f"{draw.pick(w.first_names)} {draw.pick(w.last_names)}"
            name, slug = contact, contact.split()[0].translate(ASCII).lower()
        else:
            contact = f"{draw.pick(w.first_names)} {draw.pick(w.last_names)}"
            stem, trade, form = draw.pick(w.stems), draw.pick(w.trades), draw.pick(w.forms)
            style = draw.below(20)
            name = (f'{form} "{stem} {trade}"' if style == 0 else f"{stem} & {trade} {form}"
                    if style == 1 else f"{stem} {trade} {form}")  # fmt: skip
            slug = f"{stem}{trade}".translate(ASCII).lower()
        city, county, post = w.cities[draw.below(len(w.cities))]
        bare = index % 25 == 3
        regno = "" if bare or person else f"{w.regno_prefix}{draw.below(10**7):07d}"
        balance = Decimal(draw.below(400_000)) / 100 if draw.below(3) == 0 else Decimal(0)
        attrs = {
            "code": self.customer_code(index), "name": name, "object": draw.pick(w.objects),
            "address1": f"{draw.pick(w.streets)} {draw.below(120) + 1}", "address2": city,
            "address3": f"{post}{draw.below(1000):03d}", "country": self.spec.country,
            "county": county, "contact": contact,
            "phone": f"{w.phone}{draw.below(10**6):06d}",
            "email": "" if bare or draw.below(10) == 0 else f"arved@{slug}{index}.{w.domain}",
            "regno": regno, "vatregno": f"{w.vat_prefix}{regno[-7:]}" if regno else "",
            "class": "ERA" if person else "B2B", "payterm": draw.pick(w.payterms),
            "vatregion": "0", "salesman": draw.pick(w.salesmen), "currency": "EUR",
            "balance": money(balance), "creditlimit": "5000.00",
            "closed": "1" if self.customer_closed(index) else "0", "ts": self.customer_ts(index),
        }  # fmt: skip
        datafields = [{"code": "EINVOICE", "content": str(draw.below(2)), "param": ""}]
        return attrs, {"datafields": datafields}

    def item(self, index: int) -> Rec:
        w, draw = self.words, Draw(self.seed, 3, index)
        if index < len(w.articles):
            code, name, unit, price = w.articles[index]
        else:
            base = w.articles[index % len(w.articles)]
            code, name, unit = f"ART{index:05d}", f"{base[1]} ({index})", base[2]
            price = money(Decimal(draw.below(50_000) + 100) / 100)
        vatcode = "0" if index % 11 == 10 else w.standard_vat
        ts = iso(self._now - timedelta(seconds=draw.below(540 * 86_400) + 3600))
        attrs = {
            "code": code, "name": name, "class": "TEENUS", "class_name": "Teenused",
            "unit": unit, "salesprice": price, "vatcode": vatcode, "accountlocal": "3010",
            "object": draw.pick(w.objects), "closed": "1" if index % 9 == 8 else "0", "ts": ts,
        }  # fmt: skip
        return attrs, {"datafields": [], "supplieritems": []}

    def supplier(self, index: int) -> tuple[str, str]:
        draw = Draw(self.seed, 4, index)
        w = self.words
        return (
            f"H{index + 1:04d}",
            f"{draw.pick(w.stems)} {draw.pick(w.trades)} {draw.pick(w.forms)}",
        )

    # -- documents -----------------------------------------------------------------------
    def _doc_date(self, kind: int, index: int, per_month: int) -> tuple[date, Draw]:
        draw = Draw(self.seed, kind, index)
        month_start = _add_months(self._start, index // per_month)
        last = calendar.monthrange(month_start.year, month_start.month)[1]
        day = month_start + timedelta(days=draw.below(last))
        return min(day, self.today), draw

    @property
    def invoice_count(self) -> int:
        return self.sizes.months * self.sizes.invoices_per_month

    def invoice(self, index: int) -> tuple[Rec, Payment | None]:
        """Invoice ``index`` with its rows, and the seeded payment of it (if any).

        The records are shared between calls: treat them as read-only."""
        cached = self._invoices.get(index)
        if cached is None:
            cached = self._invoices[index] = self._generate_invoice(index)
        return cached

    def _generate_invoice(self, index: int) -> tuple[Rec, Payment | None]:
        s, w = self.sizes, self.words
        day, draw = self._doc_date(5, index, s.invoices_per_month)
        customer = draw.below(s.customers)
        customer_attrs, _ = self.customer(customer)
        rows, net, vat = [], Decimal(0), Decimal(0)
        for rn in range(1, draw.below(4) + 2):
            item, _ = self.item(draw.below(min(s.items, len(w.articles))))
            quantity = Decimal(draw.below(20) + 1) / (2 if draw.below(4) == 0 else 1)
            row_sum = (quantity * Decimal(item["salesprice"])).quantize(CENT)
            net += row_sum
            vat += (row_sum * Decimal(w.vat_rates[item["vatcode"]]) / 100).quantize(CENT)
            rows.append({"rn": str(rn), "item": item["code"], "description": item["name"],
                         "quantity": str(quantity), "price": item["salesprice"],
                         "vatcode": item["vatcode"], "account": "3010",
                         "object": customer_attrs["object"], "sum": money(row_sum)})  # fmt: skip
        term = int(customer_attrs["payterm"])
        total = net + vat
        confirmed = (self.today - day).days > 3 or draw.below(2) == 0
        ts = datetime(day.year, day.month, day.day, 9) + timedelta(seconds=draw.below(30_000))
        payment = self._payment(draw, day, term, total) if confirmed else None
        paid = payment.amount if payment and payment.confirmed else Decimal(0)
        if payment and payment.confirmed:
            ts = max(ts, datetime.combine(payment.receipt_date, datetime.min.time()) +
                     timedelta(hours=10))  # fmt: skip
        attrs = {
            "number": str(INVOICE_BASE + index + 1), "date": iso(day),
            "duedate": iso(day + timedelta(days=term)), "transactiondate": iso(day),
            "customercode": customer_attrs["code"], "customername": customer_attrs["name"],
            "paymentterm": str(term), "vatzone": "0", "country": self.spec.country,
            "currency": "EUR", "currencyrate": "1", "salesman": customer_attrs["salesman"],
            "comment": "", "address1": customer_attrs["address1"],
            "address2": customer_attrs["address2"], "address3": customer_attrs["address3"],
            "confirmed": "1" if confirmed else "0", "netamount": money(net), "vat": money(vat),
            "totalamount": money(total), "balance": money(total - paid),
            "ts": iso(min(ts, self._now)),
        }  # fmt: skip
        return (attrs, {"rows": rows}), payment

    def _payment(self, draw: Draw, day: date, term: int, total: Decimal) -> Payment | None:
        roll = draw.below(100)
        paid_on = day + timedelta(days=draw.below(term + 10))
        if roll >= 88 or paid_on > self.today:
            return None
        if roll < 70:
            return Payment(paid_on, total, True)
        if roll < 80:
            return Payment(paid_on, (total / 2).quantize(CENT), True)
        return Payment(paid_on, total, False)

    def receipt(self, index: int) -> Rec | None:
        """The seeded receipt paying invoice ``index``, if it has one: dated on its row,
        and on its header too only with the spec's ``receipt_header_dates``."""
        (invoice, _), payment = self.invoice(index)
        if payment is None:
            return None
        when = iso(payment.receipt_date)
        attrs = {"number": str(RECEIPT_BASE + index + 1),
                 "confirmed": "1" if payment.confirmed else "0",
                 "ts": iso(datetime.combine(payment.receipt_date, datetime.min.time())
                           + timedelta(hours=10, minutes=index % 60))}  # fmt: skip
        if self.spec.receipt_header_dates:
            attrs = {"number": attrs["number"], "paymentmode": "PANK", "aeg": when, **attrs}
        row = {"invoice": invoice["number"], "aeg": when, "customer": invoice["customercode"],
               "customername": invoice["customername"], "received": money(payment.amount),
               "invoicesum": invoice["balance"]}  # fmt: skip
        return attrs, {"rows": [row]}

    def purchase(self, index: int) -> Rec:
        s = self.sizes
        day, draw = self._doc_date(6, index, s.purchases_per_month)
        code, name = self.supplier(draw.below(s.suppliers))
        net = Decimal(draw.below(200_000) + 500) / 100
        vat = (net * Decimal(self.words.standard_vat) / 100).quantize(CENT)
        attrs = {"number": str(PURCHASE_BASE + index + 1), "supplier": code, "suppliername": name,
                 "supplierinvoiceno": f"INV-{draw.below(99_999):05d}", "date": iso(day),
                 "duedate": iso(day + timedelta(days=14)), "transactiontime": iso(day),
                 "paymentterm": "14", "sum": money(net + vat), "vat": money(vat), "asset": "",
                 "confirmed": "0" if draw.below(10) == 0 else "1",
                 "ts": iso(min(datetime.combine(day, datetime.min.time()) + timedelta(hours=15),
                               self._now))}  # fmt: skip
        return attrs, {}

    def transaction(self, index: int) -> Rec:
        s = self.sizes
        day, draw = self._doc_date(7, index, s.transactions_per_month)
        kind = draw.pick(("ARVE", "LAEK", "OST", "KANNE"))
        amount = money(Decimal(draw.below(300_000) + 100) / 100)
        debit, credit = {"ARVE": ("1210", "3010"), "LAEK": ("1020", "1210"),
                         "OST": ("4000", "2110"), "KANNE": ("5100", "1020")}[kind]  # fmt: skip
        when = iso(day)
        rows = [
            {"rn": "1", "account": debit, "object": "", "project": "", "description": kind,
             "vatcode": "", "currency": "EUR", "debitamount": amount, "creditamount": "0",
             "date": when},
            {"rn": "2", "account": credit, "object": "", "project": "", "description": kind,
             "vatcode": "", "currency": "EUR", "debitamount": "0", "creditamount": amount,
             "date": when},
        ]  # fmt: skip
        attrs = {"number": str(TRANSACTION_BASE + index + 1), "type": kind, "date": when,
                 "reference": f"RF{draw.below(10**6):06d}", "comment": f"{kind} {index + 1}",
                 "ts": iso(min(datetime.combine(day, datetime.min.time()) + timedelta(hours=18),
                               self._now))}  # fmt: skip
        return attrs, {"rows": rows}


def _add_months(day: date, months: int) -> date:
    month0 = day.year * 12 + day.month - 1 + months
    return date(month0 // 12, month0 % 12 + 1, 1)
