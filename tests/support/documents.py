"""Hand-made Directo databases for the read planner's tests: a sandbox database holding
exactly the invoices and receipts a test draws (plus a few seeded purchases and ledger
transactions), reachable with its own token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import strategies as st

from app.directo.credentials import DirectoCredentials
from app.directo.sandbox import SandboxState
from app.directo.sandbox.config import DatabaseSpec, Sizes, TokenSpec

TODAY = dt.date(2025, 6, 15)
CODES = tuple(f"P{n:03d}" for n in range(1, 9))
DAYS = st.dates(min_value=dt.date(2024, 11, 1), max_value=dt.date(2025, 7, 31))
AMOUNTS = st.decimals(min_value=-500, max_value=5000, places=2, allow_nan=False)


@dataclass(frozen=True, slots=True)
class Invoice:
    customercode: str | None
    day: dt.date
    net: Decimal
    balance: Decimal
    rows: int


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    customer: str | None
    day: dt.date | None
    received: Decimal


@dataclass(frozen=True, slots=True)
class Receipt:
    day: dt.date | None  # the header's `aeg` (the wiki's form; the schema has none)
    rows: tuple[ReceiptRow, ...]


@dataclass(frozen=True, slots=True)
class Documents:
    invoices: list[Invoice] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


_CODE = st.one_of(st.sampled_from(CODES), st.none())

invoices = st.builds(
    Invoice, customercode=_CODE, day=DAYS, net=AMOUNTS, balance=AMOUNTS,
    rows=st.integers(0, 3),
)  # fmt: skip
receipts = st.builds(
    Receipt,
    day=st.one_of(DAYS, st.none()),
    rows=st.lists(
        st.builds(ReceiptRow, customer=_CODE, day=st.one_of(DAYS, st.none()), received=AMOUNTS),
        max_size=3,
    ).map(tuple),
)
documents = st.builds(
    Documents, invoices=st.lists(invoices, max_size=25), receipts=st.lists(receipts, max_size=20)
)


def _stamp(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _without_none(attrs: dict[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in attrs.items() if value is not None}


def build_database(
    sandbox: SandboxState, name: str, drawn: Documents, *, seed: int = 1
) -> DirectoCredentials:
    """(Re)create database `name` holding `drawn` and a token for it; its credentials."""
    spec = DatabaseSpec(
        name=name,
        seed=seed,
        today=TODAY,
        receipt_header_dates=True,
        sizes=Sizes(customers=10, items=5, months=9, invoices_per_month=0,
                    purchases_per_month=2, transactions_per_month=3, suppliers=3),
    )  # fmt: skip
    database = sandbox.add_database(spec)
    for number, invoice in enumerate(drawn.invoices, start=500_001):
        rows = [{"rn": str(rn), "item": "A1", "quantity": "1", "sum": "1.00"}
                for rn in range(1, invoice.rows + 1)]  # fmt: skip
        attrs = _without_none({
            "number": str(number), "date": _stamp(invoice.day),
            "customercode": invoice.customercode, "netamount": str(invoice.net),
            "balance": str(invoice.balance), "confirmed": "1", "ts": _stamp(invoice.day),
        })  # fmt: skip
        database.store_invoice(attrs, rows)
    for number, receipt in enumerate(drawn.receipts, start=800_001):
        rows = [
            _without_none({
                "customer": row.customer, "aeg": _stamp(row.day) if row.day else None,
                "received": str(row.received),
            })
            for row in receipt.rows
        ]  # fmt: skip
        header = _without_none(
            {"number": str(number), "aeg": _stamp(receipt.day) if receipt.day else None}
        )
        database.add_receipt(header, rows)
    token = f"planner-{name}-token"
    sandbox.add_token(TokenSpec(token, name))
    return DirectoCredentials(token)
