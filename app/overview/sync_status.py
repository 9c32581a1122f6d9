"""Sync status: per feed of one connection, its last runs, what it holds, when it runs next,
and whether it is stale. A composition of several flows' state (jobs, watermarks,
statistics, exports), so it lives with the API, which may read them all.

Staleness, per feed (`stale_since` is when the rule was first broken):

* `customers`, `articles` — refreshed every `sync.catalogue_refresh_hours` (H): stale when
  no import succeeded for 2·H (since the last success, or since the connection was made).
* `payments` — polled every `sync.payment_poll_minutes` (M) while sent exports await
  payment: stale when no poll succeeded for 3·M (since the last success, or since the
  oldest unpaid export was created); never stale with nothing to poll.
* `statistics` — each month is imported on its import day (summary settings, the client's
  country): stale when, a day after a month's import day, a client this connection serves
  has no values for that month (months before the settings existed are not expected).
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Connection, ConnectionHealth, Job
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import connections as connection_repo
from app.db.repositories import statistics as statistics_repo
from app.db.repositories import sync_status as status_repo
from app.queue.names import JobName
from app.statistics.import_days import BALTIC_TIME, ImportDayRule
from app.statistics.read_times import due_reads, next_read, read_times
from app.statistics.sources import company_sources
from app.statistics.storage import mapped_keys, month_key
from app.sync.imports import Feed
from app.sync.refresh import phase

PAYMENTS_WATERMARK = "paid_status:invoice"  # the payment poll's invoice-feed watermark
CATALOGUE_STALE_AFTER = 2  # refresh intervals
PAYMENTS_STALE_AFTER = 3  # poll intervals
STATISTICS_GRACE = dt.timedelta(days=1)


class RunOut(BaseModel):
    job_id: uuid.UUID
    finished_at: dt.datetime | None
    status: str
    error_code: str | None = None
    error_detail: str | None = None

    @classmethod
    def of(cls, job: Job | None) -> RunOut | None:
        if job is None:
            return None
        last = job.errors[-1] if job.errors else {}
        failed = job.status.value != "succeeded"
        return cls(
            job_id=job.id,
            finished_at=job.finished_at,
            status=job.status.value,
            error_code=last.get("code") if failed else None,
            error_detail=last.get("detail") if failed else None,
        )


class FeedStatus(BaseModel):
    feed: str = Field(description="customers, articles, payments or statistics")
    scheduled: bool = Field(description="Whether the worker runs this feed on a schedule now")
    last_success: RunOut | None
    last_failure: RunOut | None
    watermark: str | None = Field(
        description="Where the next read starts: Directo's newest `ts` read (catalogue, "
        "payments) or the newest month stored (statistics, YYYY-MM)"
    )
    records_held: int = Field(
        description="Customers or articles held (not missing), sent exports tracked, or "
        "statistics values stored"
    )
    next_run_at: dt.datetime | None = Field(description="When the schedule runs it next")
    stale: bool
    stale_since: dt.datetime | None
    stale_rule: str = Field(description="The rule `stale` follows for this feed")


class SyncStatusOut(BaseModel):
    connection_id: uuid.UUID
    company_id: str
    client_id: str | None
    health: ConnectionHealth
    checked_at: dt.datetime
    feeds: list[FeedStatus]


def _stale(reference: dt.datetime, allowed: dt.timedelta, now: dt.datetime) -> dt.datetime | None:
    deadline = reference + allowed
    return deadline if now > deadline else None


async def _catalogue(
    session: AsyncSession,
    connection: Connection,
    feed: Feed,
    *,
    enabled: bool,
    settings: Settings,
    now: dt.datetime,
) -> FeedStatus:
    interval = dt.timedelta(hours=settings.sync.catalogue_refresh_hours)
    kind = feed.job_name.value
    success, failure = await status_repo.last_runs(
        session, kinds=[kind], connection_id=connection.id
    )
    mark = await catalog_repo.get_watermark(session, connection.id, feed.value)
    last_run = mark.last_run_at if mark else None
    next_run = None
    if enabled:
        due = last_run + interval + phase(connection.id, feed, interval) if last_run else now
        next_run = max(due, now)
    reference = (success.finished_at if success else None) or last_run or connection.created_at
    since = _stale(reference, interval * CATALOGUE_STALE_AFTER, now) if enabled else None
    return FeedStatus(
        feed=feed.value,
        scheduled=enabled,
        last_success=RunOut.of(success),
        last_failure=RunOut.of(failure),
        watermark=mark.watermark_ts.isoformat() if mark and mark.watermark_ts else None,
        records_held=await status_repo.catalogue_held(session, connection.id, feed.value),
        next_run_at=next_run,
        stale=since is not None,
        stale_since=since,
        stale_rule=f"no successful import for {CATALOGUE_STALE_AFTER} refresh intervals "
        f"({CATALOGUE_STALE_AFTER * settings.sync.catalogue_refresh_hours:g} h)",
    )


async def _payments(
    session: AsyncSession,
    connection: Connection,
    *,
    enabled: bool,
    settings: Settings,
    now: dt.datetime,
) -> FeedStatus:
    interval = dt.timedelta(minutes=settings.sync.payment_poll_minutes)
    success, failure = await status_repo.last_runs(
        session, kinds=[JobName.PAYMENT_POLL.value], connection_id=connection.id
    )
    awaiting, oldest = await status_repo.awaiting_payment(session, connection.id)
    mark = await catalog_repo.get_watermark(session, connection.id, PAYMENTS_WATERMARK)
    scheduled = enabled and awaiting > 0
    next_run = None
    if scheduled:
        last_run = mark.last_run_at if mark else None
        next_run = max(last_run + interval, now) if last_run else now
    since = None
    if scheduled:
        reference = (success.finished_at if success else None) or oldest or now
        since = _stale(reference, interval * PAYMENTS_STALE_AFTER, now)
    return FeedStatus(
        feed="payments",
        scheduled=scheduled,
        last_success=RunOut.of(success),
        last_failure=RunOut.of(failure),
        watermark=mark.watermark_ts.isoformat() if mark and mark.watermark_ts else None,
        records_held=await status_repo.exports_tracked(session, connection.id),
        next_run_at=next_run,
        stale=since is not None,
        stale_since=since,
        stale_rule=f"unpaid exports and no successful poll for {PAYMENTS_STALE_AFTER} poll "
        f"intervals ({PAYMENTS_STALE_AFTER * settings.sync.payment_poll_minutes:g} min)",
    )


async def _statistics(
    session: AsyncSession,
    connection: Connection,
    *,
    enabled: bool,
    settings: Settings,
    now: dt.datetime,
) -> FeedStatus:
    company_id = connection.company_id
    summary = await statistics_repo.get_summary_settings(session, company_id)
    sources = await company_sources(session, company_id)
    served = {cid: s.country for cid, s in sources.items() if s.connection.id == connection.id}
    kinds = [JobName.STATISTICS_IMPORT.value, JobName.STATISTICS_RELOAD.value]
    success, failure = await status_repo.last_runs(
        session, kinds=kinds, company_id=company_id, client_ids=list(served)
    )
    newest, held = await status_repo.statistics_held(session, company_id, list(served))
    scheduled = bool(enabled and summary and mapped_keys(summary.field_mapping) and served)
    next_run: dt.datetime | None = None
    since: dt.datetime | None = None
    if scheduled and summary is not None:
        rule, day = ImportDayRule(summary.import_day_rule), summary.import_day
        timing = settings.statistics
        not_before = summary.created_at.astimezone(BALTIC_TIME).date()
        next_run = min(
            next_read(now, rule=rule, day=day, country=country, timing=timing)
            for country in set(served.values())
        )
        overdue: list[dt.datetime] = []
        for client_id, country in served.items():
            # A month is overdue when its first read has been due for the grace period
            # and the client still has no values for it.
            expected = due_reads(
                now - STATISTICS_GRACE,
                rule=rule,
                day=day,
                country=country,
                not_before=not_before,
                timing=timing,
            )
            if expected and newest.get(client_id, dt.date.min) < expected[-1].month:
                month = expected[-1].month
                first = read_times(month, rule=rule, day=day, country=country, timing=timing)
                overdue.append((first.first + STATISTICS_GRACE).astimezone(dt.UTC))
        since = min(overdue) if overdue else None
    return FeedStatus(
        feed="statistics",
        scheduled=scheduled,
        last_success=RunOut.of(success),
        last_failure=RunOut.of(failure),
        watermark=month_key(max(newest.values())) if newest else None,
        records_held=held,
        next_run_at=next_run,
        stale=since is not None,
        stale_since=since,
        stale_rule="a served client has no values for a month one day after its first read "
        "was due (the end of its import day, local time)",
    )


async def sync_status(
    session: AsyncSession, connection: Connection, *, settings: Settings
) -> SyncStatusOut:
    """The connection's feeds as the schedule sees them now (reads only)."""
    now = dt.datetime.now(dt.UTC)
    integration = await connection_repo.get_integration(session, connection.company_id)
    enabled = bool(integration and integration.enabled and connection.retired_at is None)
    feeds = [
        await _catalogue(session, connection, feed, enabled=enabled, settings=settings, now=now)
        for feed in Feed
    ]
    feeds.append(await _payments(session, connection, enabled=enabled, settings=settings, now=now))
    feeds.append(
        await _statistics(session, connection, enabled=enabled, settings=settings, now=now)
    )
    return SyncStatusOut(
        connection_id=connection.id,
        company_id=connection.company_id,
        client_id=connection.client_id,
        health=connection.health,
        checked_at=now,
        feeds=feeds,
    )
