"""The monthly tally: bucketing by month, scope rules and the derived `documents` count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.directo.schemas import (
    DirectoInvoice,
    DirectoInvoiceRow,
    DirectoPurchase,
    DirectoReceipt,
    DirectoReceiptRow,
    DirectoTransaction,
)
from app.statistics.compute import MonthlyTally, feeds_for, months_between, supported_keys
from app.statistics.fields import FIELD_KEYS, Scope

D = dt.date
ALL = sorted(FIELD_KEYS)


def invoice(
    number: int, day: dt.date, customer: str, *, rows: int = 1, **extra: object
) -> DirectoInvoice:
    return DirectoInvoice(
        number=str(number),
        date=day,
        customercode=customer,
        rows=tuple(DirectoInvoiceRow(rn=str(n)) for n in range(rows)),
        **extra,  # type: ignore[arg-type]
    )


def receipt(number: int, day: dt.date, *rows: tuple[str, str]) -> DirectoReceipt:
    return DirectoReceipt(
        number=str(number),
        aeg=day,
        rows=tuple(
            DirectoReceiptRow(customer=code, received=Decimal(amount)) for code, amount in rows
        ),
    )


def test_feeds_follow_the_mapped_fields_and_the_scope() -> None:
    assert feeds_for(["sales_invoices"], Scope.LINKED_CUSTOMER) == ["invoice"]
    assert feeds_for(["documents"], Scope.LINKED_CUSTOMER) == ["invoice", "receipt"]
    assert feeds_for(["documents"], Scope.OWN_CONNECTION) == [
        "invoice",
        "purchase",
        "receipt",
        "transaction",
    ]
    assert feeds_for(["purchase_total", "ledger_transactions"], Scope.LINKED_CUSTOMER) == []
    assert supported_keys(ALL, Scope.LINKED_CUSTOMER) == [
        key
        for key in supported_keys(ALL, Scope.OWN_CONNECTION)
        if key not in {"purchase_invoices", "ledger_transactions", "purchase_total"}
    ]


def test_linked_client_counts_only_its_customer_and_buckets_by_month() -> None:
    tally = MonthlyTally(
        scope=Scope.LINKED_CUSTOMER, first=D(2026, 1, 1), last=D(2026, 2, 1), customer_code="K1"
    )
    tally.add_invoices(
        [
            invoice(
                1, D(2026, 1, 31), "K1", rows=3, netamount=Decimal("10.50"), balance=Decimal(5)
            ),
            invoice(2, D(2026, 2, 1), "K1", rows=1, netamount=Decimal("4.50"), balance=Decimal(0)),
            invoice(3, D(2026, 2, 2), "K2", rows=7, netamount=Decimal(100)),
            invoice(4, D(2025, 12, 31), "K1", rows=2),  # before the range
            invoice(5, D(2026, 3, 1), "K1", rows=2),  # after it
        ]
    )
    tally.add_receipts(
        [
            receipt(1, D(2026, 1, 15), ("K1", "3.00"), ("K2", "50.00")),
            receipt(2, D(2026, 1, 16), ("K2", "8.00")),
        ]
    )
    tally.add_purchases([DirectoPurchase(number="9", date=D(2026, 1, 5), sum=Decimal(9))])
    values = tally.values(ALL)
    january, february = values[D(2026, 1, 1)], values[D(2026, 2, 1)]
    assert "purchase_invoices" not in january
    assert "ledger_transactions" not in january
    assert january["sales_invoices"] == 1
    assert january["sales_invoice_rows"] == 3
    assert january["unpaid_sales_invoices"] == 1
    assert january["bank_transactions"] == 1
    assert january["receipts_total"] == Decimal("3.00")
    assert january["documents"] == 2
    assert january["sales_net_total"] == Decimal("10.50")
    assert january["active_customers"] == 1
    assert february["sales_invoices"] == 1
    assert february["unpaid_sales_invoices"] == 0
    assert february["bank_transactions"] == 0
    assert february["documents"] == 1


def test_own_connection_counts_every_document_of_the_database() -> None:
    tally = MonthlyTally(scope=Scope.OWN_CONNECTION, first=D(2026, 1, 1), last=D(2026, 1, 1))
    tally.add_invoices([invoice(1, D(2026, 1, 2), "K1"), invoice(2, D(2026, 1, 3), "K2")])
    tally.add_receipts([receipt(1, D(2026, 1, 4), ("K9", "1.00"))])
    tally.add_purchases(
        [DirectoPurchase(number=str(n), date=D(2026, 1, 5), sum=Decimal("2.25")) for n in range(3)]
    )
    tally.add_transactions(
        [DirectoTransaction(number=str(n), date=D(2026, 1, 6)) for n in range(4)]
    )
    january = tally.values(ALL)[D(2026, 1, 1)]
    assert january["active_customers"] == 2
    assert january["purchase_invoices"] == 3
    assert january["purchase_total"] == Decimal("6.75")
    assert january["ledger_transactions"] == 4
    assert january["documents"] == 2 + 1 + 3 + 4


@given(
    dates=st.lists(st.dates(min_value=D(2024, 1, 1), max_value=D(2026, 12, 31)), max_size=60),
    first=st.dates(min_value=D(2024, 1, 1), max_value=D(2026, 12, 31)),
    span=st.integers(min_value=0, max_value=14),
)
def test_every_invoice_in_range_lands_in_exactly_one_month(
    dates: list[dt.date], first: dt.date, span: int
) -> None:
    months = months_between(first, first + dt.timedelta(days=31 * span))
    tally = MonthlyTally(scope=Scope.OWN_CONNECTION, first=months[0], last=months[-1])
    tally.add_invoices(invoice(n, day, "K1") for n, day in enumerate(dates))
    values = tally.values(["sales_invoices"])
    assert list(values) == months
    in_range = sum(1 for day in dates if months[0] <= day.replace(day=1) <= months[-1])
    assert sum(month["sales_invoices"] for month in values.values()) == in_range


def dated_receipt(number: int, *rows: tuple[dt.date | None, str, str]) -> DirectoReceipt:
    """A receipt as Directo's output schema has it: no header date, each row dated."""
    return DirectoReceipt(
        number=str(number),
        rows=tuple(
            DirectoReceiptRow(aeg=day, customer=code, received=Decimal(amount))
            for day, code, amount in rows
        ),
    )


def test_receipts_are_dated_on_their_rows_each_row_in_its_own_month() -> None:
    tally = MonthlyTally(scope=Scope.OWN_CONNECTION, first=D(2025, 3, 1), last=D(2025, 4, 1))
    tally.add_receipts(
        [
            # Rows in March and April: the receipt counts in both, each row in its month.
            dated_receipt(700031, (D(2025, 3, 31), "K7", "310.00"), (D(2025, 4, 1), "K7", "95.50")),
            dated_receipt(700032, (D(2025, 4, 2), "K12", "1200.00")),
            dated_receipt(700033, (D(2025, 4, 3), "K1", "1.00"), (D(2025, 4, 30), "K2", "2.00")),
            dated_receipt(700034, (D(2025, 2, 28), "K1", "9.00")),  # before the range
            dated_receipt(700035, (None, "K1", "7.00")),  # no date anywhere: counts nowhere
        ]
    )
    values = tally.values(["bank_transactions", "receipts_total", "documents"])
    assert values[D(2025, 3, 1)] == {
        "bank_transactions": Decimal(1),
        "receipts_total": Decimal("310.00"),
        "documents": Decimal(1),
    }
    assert values[D(2025, 4, 1)] == {
        "bank_transactions": Decimal(3),
        "receipts_total": Decimal("1298.50"),
        "documents": Decimal(3),
    }


def test_a_header_date_is_used_for_rows_without_one() -> None:
    tally = MonthlyTally(scope=Scope.OWN_CONNECTION, first=D(2025, 3, 1), last=D(2025, 4, 1))
    header_dated = DirectoReceipt(
        number="1",
        aeg=D(2025, 3, 12),
        rows=(
            DirectoReceiptRow(customer="K1", received=Decimal("5.00")),
            DirectoReceiptRow(aeg=D(2025, 4, 2), customer="K1", received=Decimal("6.00")),
        ),
    )
    without_rows = DirectoReceipt(number="2", aeg=D(2025, 4, 9))
    tally.add_receipts([header_dated, without_rows])
    values = tally.values(["bank_transactions", "receipts_total"])
    assert values[D(2025, 3, 1)] == {"bank_transactions": 1, "receipts_total": Decimal("5.00")}
    assert values[D(2025, 4, 1)] == {"bank_transactions": 2, "receipts_total": Decimal("6.00")}


def test_a_linked_client_counts_a_receipt_in_the_months_of_its_own_rows() -> None:
    tally = MonthlyTally(
        scope=Scope.LINKED_CUSTOMER, first=D(2025, 3, 1), last=D(2025, 4, 1), customer_code="K1"
    )
    tally.add_receipts(
        [
            dated_receipt(1, (D(2025, 3, 3), "K2", "50.00"), (D(2025, 4, 4), "K1", "4.00")),
            dated_receipt(2, (D(2025, 3, 5), "K2", "8.00")),
            DirectoReceipt(number="3", aeg=D(2025, 3, 6)),  # no rows: nobody's
        ]
    )
    values = tally.values(["bank_transactions", "receipts_total"])
    assert values[D(2025, 3, 1)] == {"bank_transactions": 0, "receipts_total": Decimal("0.00")}
    assert values[D(2025, 4, 1)] == {"bank_transactions": 1, "receipts_total": Decimal("4.00")}


@given(
    rows=st.lists(
        st.lists(
            st.tuples(
                st.dates(min_value=D(2025, 1, 1), max_value=D(2025, 12, 31)),
                st.integers(min_value=0, max_value=10_000),
            ),
            min_size=1,
            max_size=4,
        ),
        max_size=20,
    )
)
@pytest.mark.slow
def test_every_received_row_in_range_is_summed_once(rows: list[list[tuple[dt.date, int]]]) -> None:
    tally = MonthlyTally(scope=Scope.OWN_CONNECTION, first=D(2025, 4, 1), last=D(2025, 9, 1))
    tally.add_receipts(
        dated_receipt(n, *((day, "K1", str(Decimal(cents) / 100)) for day, cents in receipt))
        for n, receipt in enumerate(rows)
    )
    values = tally.values(["bank_transactions", "receipts_total"]).values()
    in_range = [
        [(day, cents) for day, cents in receipt if D(2025, 4, 1) <= day <= D(2025, 9, 30)]
        for receipt in rows
    ]
    total = sum(cents for receipt in in_range for _, cents in receipt)
    assert sum(month["receipts_total"] for month in values) == Decimal(total) / 100
    months_with_rows = sum(len({day.month for day, _ in receipt}) for receipt in in_range)
    assert sum(month["bank_transactions"] for month in values) == months_with_rows
