"""Storing one invoice's payment reading on its export, and announcing what changed.

`apply_reading` keeps `total`, `balance`, `paid_amount`, `payment_status` and `paid_on`
current, emits `invoice.payment_status_changed` (old → new) on any change and
`invoice.paid` exactly once per export, when it first becomes paid (`paid_notified_at`
records it; the caller holds the export's row lock). Both carry the amounts, including
`overpaid_amount`, the surplus received beyond a positive invoice's total.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import InvoiceExport, PaymentStatus
from app.directo.schemas import DirectoInvoice
from app.payments.status import overpaid_amount, read_invoice
from app.webhooks.outbox import emit
from app.webhooks.types import EventType

DIRECTO_TIME = ZoneInfo("Europe/Tallinn")


def local_date(moment: dt.datetime) -> dt.date:
    """The date at `moment` in Directo's time zone (every date Directo shows is local)."""
    return moment.astimezone(DIRECTO_TIME).date()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def overpaid(export: InvoiceExport) -> Decimal | None:
    """The export's surplus received beyond its total (None until Directo was read)."""
    if export.total is None or export.balance is None:
        return None
    return overpaid_amount(total=export.total, balance=export.balance)


def _payment_payload(export: InvoiceExport, previous: PaymentStatus | None) -> dict[str, Any]:
    return {
        "export_id": str(export.id),
        "client_id": export.client_id,
        "invoice_number": export.uku_invoice_number,
        "directo_number": export.directo_number,
        "customer_code": export.customer_code,
        "currency": export.currency,
        "payment_status": export.payment_status.value if export.payment_status else None,
        "previous_payment_status": previous.value if previous else None,
        "total": _money(export.total),
        "balance": _money(export.balance),
        "paid_amount": _money(export.paid_amount),
        "overpaid_amount": _money(overpaid(export)),
        "paid_on": export.paid_on.isoformat() if export.paid_on else None,
    }


async def apply_reading(
    session: AsyncSession,
    export: InvoiceExport,
    invoice: DirectoInvoice,
    paid_date: dt.date | None,
    now: dt.datetime,
    counts: dict[str, int],
) -> None:
    """Store one invoice's reading on its export and announce what changed."""
    reading = read_invoice(invoice)
    export.payment_checked_at = now
    if reading is None:
        return
    previous = export.payment_status
    export.total, export.balance = reading.total, reading.balance
    export.paid_amount, export.confirmed = reading.paid_amount, reading.confirmed
    export.directo_ts = reading.ts
    if reading.status is PaymentStatus.PAID:
        if previous is not PaymentStatus.PAID or export.paid_on is None:
            # No confirmed receipt date known: the day it was first read as paid, in
            # Directo's time zone (at 23:30 in Tallinn, UTC's date is still yesterday's).
            export.paid_on = paid_date or export.paid_on or local_date(now)
    else:
        export.paid_on = None
    counts["updated"] += 1
    callback_url = export.request_body.get("callback_url")
    if reading.status is not previous:
        export.payment_status = reading.status
        export.payment_status_changed_at = now
        counts["status_changed"] += 1
        await emit(
            session,
            company_id=export.company_id,
            type_=EventType.INVOICE_PAYMENT_STATUS_CHANGED,
            payload=_payment_payload(export, previous),
            callback_url=callback_url,
        )
    if reading.status is PaymentStatus.PAID and export.paid_notified_at is None:
        export.paid_notified_at = now
        counts["paid"] += 1
        await emit(
            session,
            company_id=export.company_id,
            type_=EventType.INVOICE_PAID,
            payload=_payment_payload(export, previous),
            callback_url=callback_url,
        )
