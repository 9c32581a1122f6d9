"""What a Directo invoice says about its payment — pure functions, no I/O.

Directo's invoice carries its total with VAT (`totalamount`) and the outstanding
`balance`; only confirmed receipts lower the balance, so the balance is the authority:

* `paid` — nothing is outstanding (balance 0);
* `unpaid` — the whole total is outstanding;
* `partially_paid` — anything in between (or, for a credit invoice, its negative
  equivalent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from app.db.models import PaymentStatus
from app.directo.schemas import DirectoInvoice

CENT = Decimal("0.01")


def payment_status(*, total: Decimal, balance: Decimal) -> PaymentStatus:
    """The status of an invoice of `total` with `balance` still outstanding."""
    if balance.quantize(CENT) == 0:
        return PaymentStatus.PAID
    if balance.quantize(CENT) == total.quantize(CENT):
        return PaymentStatus.UNPAID
    return PaymentStatus.PARTIALLY_PAID


@dataclass(frozen=True, slots=True)
class PaymentReading:
    """One invoice's payment figures as Directo reported them."""

    total: Decimal
    balance: Decimal
    paid_amount: Decimal
    status: PaymentStatus
    confirmed: bool
    ts: dt.datetime | None


def read_invoice(invoice: DirectoInvoice) -> PaymentReading | None:
    """The payment figures of `invoice`, or None when it carries no total to judge by.

    Without a `balance` attribute nothing is known to be paid: the whole total is taken as
    outstanding.
    """
    total = invoice.totalamount
    if total is None and invoice.netamount is not None:
        total = invoice.netamount + (invoice.vat or Decimal(0))
    if total is None:
        return None
    balance = invoice.balance if invoice.balance is not None else total
    return PaymentReading(
        total=total.quantize(CENT),
        balance=balance.quantize(CENT),
        paid_amount=(total - balance).quantize(CENT),
        status=payment_status(total=total, balance=balance),
        confirmed=invoice.confirmed,
        ts=invoice.ts,
    )
