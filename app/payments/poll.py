"""The `payment_poll` job: read exported invoices' payment state back from Directo.

One poll per connection (single flight), started by the worker's tick every
`sync.payment_poll_minutes` for connections with sent, not yet paid exports. A poll

1. reads the `invoice` feed changed since its watermark (minus an overlap; the first poll
   starts a day before the oldest unpaid export) and keeps the invoices that are ours;
2. reads the `receipt` feed the same way: a **confirmed** receipt row naming one of our
   invoices marks it for a look-up and gives its paid date (unconfirmed receipts settle
   nothing, and Directo leaves them out of the balance too);
3. looks up by number the invoices a receipt named but the invoice feed did not bring,
   and those never read yet;
4. stores per export `total`, `balance`, `paid_amount`, `payment_status`, `paid_on`
   (the settling receipt's date, else the day it was first read as paid in Directo's
   time zone), Directo's `confirmed` and `ts`, emitting `invoice.payment_status_changed`
   (old → new) on any change and `invoice.paid` exactly once per export, when it first
   becomes paid (`record.py`; `paid_notified_at` records it, under a row lock).

Everything — exports, events, both watermarks — commits with the job, or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import health
from app.connections.capabilities import Feature, Work
from app.connections.service import credentials_of
from app.db.models import Connection, Job
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import connections as connection_repo
from app.db.repositories import exports as export_repo
from app.db.repositories import jobs as job_repo
from app.directo.capability_probe import Capability
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoError
from app.directo.lookups import find_invoice
from app.directo.schemas import DirectoInvoice
from app.jobs.runner import Failure, JobContext, JobFailed, JobOutcome
from app.payments.record import apply_reading
from app.queue.names import JobName

INVOICE_FEED = "paid_status:invoice"
RECEIPT_FEED = "paid_status:receipt"
OVERLAP = dt.timedelta(hours=1)
FIRST_POLL_MARGIN = dt.timedelta(days=1)
MAX_LOOKUPS = 100
MAX_STARTS_PER_TICK = 50
BATCH_SIZE = 2000
PAID_STATUS_NEEDS = (Capability.INVOICES_OUT, Capability.RECEIPTS_OUT)


def _number(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isdigit() else None


def _newest(current: dt.datetime | None, stamps: list[dt.datetime]) -> dt.datetime | None:
    if not stamps:
        return current
    latest = max(stamps)
    return latest if current is None or latest > current else current


@dataclass(slots=True)
class _Reading:
    """What one poll learnt from Directo."""

    invoices: dict[int, DirectoInvoice] = field(default_factory=dict)
    paid_dates: dict[int, dt.date] = field(default_factory=dict)
    invoice_mark: dt.datetime | None = None
    receipt_mark: dt.datetime | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("invoices_read", "receipts_read", "looked_up", "updated", "status_changed", "paid"),
            0,
        )
    )


async def start_due_polls(
    session: AsyncSession, *, now: dt.datetime, interval: dt.timedelta
) -> list[Job]:
    """Create the poll jobs that are due (the caller commits, then enqueues them)."""
    candidates = await export_repo.payment_poll_candidates(
        session, feed=INVOICE_FEED, ran_before=now - interval, limit=MAX_STARTS_PER_TICK
    )
    started = []
    for connection in candidates:
        job, created = await job_repo.create_singleflight_job(
            session,
            kind=JobName.PAYMENT_POLL.value,
            singleflight_key=f"payments:{connection.id}",
            company_id=connection.company_id,
            connection_id=connection.id,
            params={},
        )
        if created:
            started.append(job)
    return started


async def _since(
    session: AsyncSession, connection_id: uuid.UUID, feed: str, floor: dt.datetime
) -> tuple[dt.datetime, dt.datetime | None]:
    mark = await catalog_repo.get_watermark(session, connection_id, feed)
    previous = mark.watermark_ts if mark else None
    since = floor if previous is None else max(floor, previous - OVERLAP)
    return since, previous


async def _read_invoices(
    context: JobContext,
    reading: _Reading,
    connection: Connection,
    directo: DirectoClient,
    creds: DirectoCredentials,
    since: dt.datetime,
) -> None:
    async with contextlib.aclosing(
        directo.iter_invoices(creds, ts=since, batch_size=BATCH_SIZE)
    ) as batches:
        async for batch in batches:
            reading.counts["invoices_read"] += len(batch)
            by_number = {n: inv for inv in batch if (n := _number(inv.number)) is not None}
            ours = await export_repo.sent_numbers(context.session, connection.id, by_number)
            reading.invoices.update((n, by_number[n]) for n in ours)
            reading.invoice_mark = _newest(
                reading.invoice_mark, [inv.ts for inv in batch if inv.ts is not None]
            )


async def _read_receipts(
    context: JobContext,
    reading: _Reading,
    connection: Connection,
    directo: DirectoClient,
    creds: DirectoCredentials,
    since: dt.datetime,
) -> None:
    async with contextlib.aclosing(
        directo.iter_receipts(creds, ts=since, batch_size=BATCH_SIZE)
    ) as batches:
        async for batch in batches:
            reading.counts["receipts_read"] += len(batch)
            reading.receipt_mark = _newest(
                reading.receipt_mark, [r.ts for r in batch if r.ts is not None]
            )
            dates: dict[int, dt.date] = {}
            for receipt in batch:
                if not receipt.confirmed:  # only confirmed receipts settle an invoice
                    continue
                for row in receipt.rows:
                    number = _number(row.invoice)
                    day = row.aeg or receipt.aeg
                    if number is None or day is None:
                        continue
                    dates[number] = max(day, dates.get(number, day))
            ours = await export_repo.sent_numbers(context.session, connection.id, dates)
            for number in ours:
                known = reading.paid_dates.get(number)
                reading.paid_dates[number] = max(dates[number], known or dates[number])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _load_connection(context: JobContext) -> Connection:
    connection = None
    if context.job.connection_id is not None:
        connection = await connection_repo.get_connection_by_id(
            context.session, context.job.connection_id
        )
    if connection is None:
        raise JobFailed("connection_missing", "The Directo connection of this poll was removed.")
    return connection


async def _save_marks(
    session: AsyncSession, connection_id: uuid.UUID, reading: _Reading, at: dt.datetime
) -> None:
    for feed, mark in ((INVOICE_FEED, reading.invoice_mark), (RECEIPT_FEED, reading.receipt_mark)):
        await catalog_repo.save_watermark(
            session, connection_id, feed, watermark=mark, full=False, at=at
        )


async def poll_payments(context: JobContext) -> JobOutcome:
    """The `payment_poll` job (see the module docstring)."""
    session, now = context.session, _now()
    connection = await _load_connection(context)
    oldest = await export_repo.oldest_awaiting_payment(session, connection.id)
    reading = _Reading()
    if oldest is None:
        await _save_marks(session, connection.id, reading, now)
        return JobOutcome(counts=reading.counts)
    floor = (oldest - FIRST_POLL_MARGIN).replace(tzinfo=None)  # Directo's ts are naive
    invoice_since, reading.invoice_mark = await _since(session, connection.id, INVOICE_FEED, floor)
    receipt_since, reading.receipt_mark = await _since(session, connection.id, RECEIPT_FEED, floor)
    directo, creds = (
        context.resources.directo,
        credentials_of(connection, context.resources.secrets),
    )
    await context.progress(done=0, phase="reading invoices and receipts")
    try:
        await _read_invoices(context, reading, connection, directo, creds, invoice_since)
        await _read_receipts(context, reading, connection, directo, creds, receipt_since)
        unread = await export_repo.never_checked_numbers(session, connection.id, limit=MAX_LOOKUPS)
        wanted = sorted((set(reading.paid_dates) | unread) - set(reading.invoices))[:MAX_LOOKUPS]
        for number in wanted:
            found = await find_invoice(directo, creds, number)
            reading.counts["looked_up"] += 1
            if found is not None:
                reading.invoices[number] = found
    except DirectoError as error:
        # A key without invoices or receipts out fails the poll as `feed_not_activated`.
        work = Work(Feature.PAID_STATUS, PAID_STATUS_NEEDS, directo, creds)
        await health.fail(context.resources.sessionmaker, connection.id, error, work=work)
    exports = await export_repo.sent_exports_with_numbers(
        session, connection.id, set(reading.invoices) | set(wanted)
    )
    for export in exports:
        invoice = reading.invoices.get(export.directo_number)
        if invoice is None:  # looked up, not in Directo (a draft deleted there): noted as read
            export.payment_checked_at = now
            continue
        paid_date = reading.paid_dates.get(export.directo_number)
        await apply_reading(session, export, invoice, paid_date, now, reading.counts)
    await session.flush()
    # The connection row is locked before the watermark rows (whose foreign key share-locks
    # it) are written: locks taken in that order cannot deadlock with another job's report.
    await health.report(session, connection.id, error_code=None)
    await _save_marks(session, connection.id, reading, now)
    return JobOutcome(counts=reading.counts)


async def on_poll_failure(session: AsyncSession, job: Job, failure: Failure) -> None:
    """A failed poll still counts as a run, so the next one waits a whole interval."""
    if job.connection_id is None:
        return
    if await connection_repo.get_connection_by_id(session, job.connection_id) is None:
        return
    mark = await catalog_repo.get_watermark(session, job.connection_id, INVOICE_FEED)
    await catalog_repo.save_watermark(
        session,
        job.connection_id,
        INVOICE_FEED,
        watermark=mark.watermark_ts if mark else None,
        full=False,
        at=dt.datetime.now(dt.UTC),
    )
