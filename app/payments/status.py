"""What a Directo invoice says about its payment — pure functions, no I/O.

Directo's invoice carries its total with VAT (`totalamount`) and the outstanding
`balance`; only confirmed receipts lower the balance, so the balance is the authority:

* `paid` — nothing is outstanding (balance 0), or, for an invoice of a positive total,
  more than the total was received (balance below 0: overpaid, the surplus is
  `overpaid_amount`);
* `unpaid` — the whole total is outstanding;
* `partially_paid` — anything in between. A credit invoice (negative total) keeps these
  rules mirrored: paid at balance 0, unpaid at its total, partially paid otherwise —
  its balance is negative by nature, so a negative balance says nothing of a surplus.

How Directo shows an overpayment is inferred, not seen (PROTOCOL §2.4 lists `balance` as
"outstanding"): a receipt row larger than the invoice's balance is taken to leave the
balance negative. Should Directo instead stop the balance at 0 (keeping the surplus as a
prepayment on the customer), the invoice still reads `paid`, with no surplus shown.
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
    if balance.quantize(CENT) == 0 or overpaid_amount(total=total, balance=balance) > 0:
        return PaymentStatus.PAID
    if balance.quantize(CENT) == total.quantize(CENT):
        return PaymentStatus.UNPAID
    return PaymentStatus.PARTIALLY_PAID


def overpaid_amount(*, total: Decimal, balance: Decimal) -> Decimal:
    """What was received beyond the total of a positive invoice (0 when nothing was, and
    always for a credit invoice, whose balance is negative by nature)."""
    if total.quantize(CENT) > 0 and balance.quantize(CENT) < 0:
        return -balance.quantize(CENT)
    return Decimal("0.00")


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
