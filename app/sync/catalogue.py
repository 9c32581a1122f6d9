"""Customer and article imports: stream Directo's feed into `directo_customers` /
`directo_articles`, keyed by (connection, code).

* **Incremental by default**: read records changed since the stored `ts` watermark minus an
  overlap window (the boundary is inclusive, so nothing at it is lost; re-read records are
  unchanged and cost no write). `full` reads everything.
* **Unchanged records are not written**: each record carries a content hash; only new and
  changed ones are upserted.
* **All or nothing**: the whole feed is written in the job's one transaction together with
  the new watermark and the job's status. A failed or interrupted import leaves the
  previous data and watermark as they were.
* After a **complete** full import, records Directo no longer has are marked
  `missing_since` (never deleted); a record seen again is unmarked.

Records become rows on the codec's parse thread, straight from the parser's attribute
dicts (`customer_rows` / `article_rows`): no model is built for them, and the event loop
only hands the finished rows to the writer. The tests hold them to the rows the feed's
models give (`tests/support/catalogue_reference.py`). A row's stored `raw` document holds the
record's attributes and every child container Directo sent with entries (`datafields`,
items' `supplieritems`, …).

* **A record without a code is not imported**: it is counted (`without_code`) and listed
  in the job's errors (`record_without_code`, the first `MAX_RECORD_ERRORS`), and the job
  ends `partially_failed`; the rest of the feed is imported as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.connections import health
from app.connections.capabilities import Feature, Work
from app.connections.reporting import reporting_health
from app.connections.service import credentials_of
from app.db.models import Connection, DirectoArticle, DirectoCustomer, JobStatus
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import connections as connection_repo
from app.directo import feeds
from app.directo.capability_probe import Capability
from app.directo.credentials import DirectoCredentials
from app.jobs.runner import JobContext, JobFailed, JobOutcome
from app.sync.catalogue_rows import (
    ARTICLE_COLUMNS,
    CODE,
    CUSTOMER_COLUMNS,
    NAME,
    TS,
    RowBuilder,
    article_rows,
    customer_rows,
    row_code,
)
from app.sync.imports import Feed
from app.sync.read_ahead import read_ahead
from app.webhooks.types import EventType

OVERLAP = dt.timedelta(hours=1)
BATCH_SIZE = 2000
MAX_RECORD_ERRORS = 20  # per-record errors listed on a job (all are counted)
READ_AHEAD = 1  # parsed batches held ready while one is written
PROGRESS_EVERY = 1.0  # seconds between progress updates while a feed is read


@dataclass(frozen=True, slots=True)
class _FeedPlan:
    model: type[DirectoCustomer] | type[DirectoArticle]
    columns: tuple[str, ...]
    feed: feeds.Feed[Any]
    rows: Callable[[uuid.UUID], RowBuilder]


_PLANS = {
    Feed.CUSTOMERS: _FeedPlan(DirectoCustomer, CUSTOMER_COLUMNS, feeds.CUSTOMERS, customer_rows),
    Feed.ARTICLES: _FeedPlan(DirectoArticle, ARTICLE_COLUMNS, feeds.ITEMS, article_rows),
}


async def _load_connection(context: JobContext) -> Connection:
    connection_id = context.job.connection_id
    connection = None
    if connection_id is not None:
        connection = await connection_repo.get_connection_by_id(context.session, connection_id)
    if connection is None:
        raise JobFailed("connection_missing", "The Directo connection of this import was removed.")
    return connection


def _work(context: JobContext, feed: Feed, creds: DirectoCredentials) -> Work | None:
    """Articles out refused to a key that reads customers is `feed_not_activated`; a
    customers import refused is the token itself."""
    if feed is not Feed.ARTICLES:
        return None
    directo = context.resources.directo
    return Work(Feature.ARTICLE_IMPORT, (Capability.ARTICLES_OUT,), directo, creds)


def _tally(counts: dict[str, int], written: tuple[int, int]) -> None:
    counts["added"] += written[0]
    counts["updated"] += written[1]


def _without_codeless(
    rows: list[tuple[Any, ...]], feed: Feed, counts: dict[str, int], errors: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """The rows that have a code; each one without is counted and (up to a limit) listed."""
    record = "customer" if feed is Feed.CUSTOMERS else "article"
    for row in rows:
        if row[CODE]:
            continue
        counts["without_code"] = counts.get("without_code", 0) + 1
        if len(errors) < MAX_RECORD_ERRORS:
            ts = row[TS]
            errors.append(
                {
                    "code": "record_without_code",
                    "detail": f"Directo sent a {record} without a code; it was not imported.",
                    "name": row[NAME] or None,
                    "directo_ts": ts.isoformat() if ts is not None else None,
                }
            )
    return [row for row in rows if row[CODE]]


async def import_feed(context: JobContext) -> JobOutcome:
    """The `customers_import` / `articles_import` job (see the module docstring)."""
    feed = Feed(context.params["feed"])
    connection = await _load_connection(context)
    plan = _PLANS[feed]
    model = plan.model
    watermark_row = await catalog_repo.get_watermark(context.session, connection.id, feed.value)
    previous = watermark_row.watermark_ts if watermark_row else None
    full = bool(context.params.get("full")) or previous is None
    since = previous - OVERLAP if previous is not None and not full else None
    started = dt.datetime.now(dt.UTC)
    counts = {"read": 0, "added": 0, "updated": 0, "unchanged": 0, "marked_missing": 0}
    errors: list[dict[str, Any]] = []
    seen: list[str] = []
    newest = previous
    phase = f"reading {feed.value}"
    await context.progress(done=0, phase=phase)
    reported = time.monotonic()
    creds = credentials_of(connection, context.resources.secrets)
    writer = await catalog_repo.open_writer(
        context.session, model, connection_id=connection.id, columns=plan.columns
    )
    # Nothing of this connection stored yet: nothing can go missing, no need to list codes.
    track_seen = full and not writer.started_empty
    # The client's feeds are typed as giving models; this one gives rows.
    rows_feed: feeds.Feed[Any] = feeds.with_builder(plan.feed, plan.rows(connection.id))
    source = context.resources.directo.iter_feed(
        creds, rows_feed, filters={"ts": since}, batch_size=BATCH_SIZE
    )
    async with (
        reporting_health(context, connection.id, work=_work(context, feed, creds)),
        contextlib.aclosing(read_ahead(source, depth=READ_AHEAD)) as batches,
    ):
        # Pipelined: while one batch is written (mostly the database's work), the next is
        # read, parsed and turned into rows (`read_ahead`, the codec's thread). One write
        # at a time: the session has one connection, and writes keep feed order.
        writing: asyncio.Task[tuple[int, int]] | None = None
        try:
            async for rows in batches:
                counts["read"] += len(rows)
                if not all(map(row_code, rows)):  # C-speed check; the split is the rare case
                    rows = _without_codeless(rows, feed, counts, errors)
                if track_seen:
                    seen.extend([row[CODE] for row in rows])
                stamps = [row[TS] for row in rows if row[TS] is not None]
                if stamps and (newest is None or max(stamps) > newest):
                    newest = max(stamps)
                if writing is not None:
                    _tally(counts, await writing)
                writing = asyncio.create_task(writer.write(rows))
                await asyncio.sleep(0)  # the write sends its first statement before we go on
                if time.monotonic() - reported >= PROGRESS_EVERY:
                    # Its own committed transaction: at most one a second, not one a batch.
                    await context.progress(done=counts["read"], phase=phase)
                    reported = time.monotonic()
            if writing is not None:
                _tally(counts, await writing)
            await writer.finish()
        except BaseException:
            # The feed failed mid-way: let the write in flight and the writer's COPY finish
            # (their rows are rolled back with the rest) rather than cut a COPY off
            # mid-stream, then fail.
            if writing is not None:
                with contextlib.suppress(BaseException):
                    await writing
            with contextlib.suppress(BaseException):
                await writer.finish()
            raise
    counts["unchanged"] = (
        counts["read"] - counts["added"] - counts["updated"] - counts.get("without_code", 0)
    )
    if track_seen:
        counts["marked_missing"] = await catalog_repo.mark_missing(
            context.session, model, connection.id, seen=seen, at=started
        )
    await catalog_repo.save_watermark(
        context.session, connection.id, feed.value, watermark=newest, full=full, at=started
    )
    await health.report(context.session, connection.id, error_code=None)
    event = EventType.CUSTOMERS_IMPORTED if feed is Feed.CUSTOMERS else EventType.ARTICLES_IMPORTED
    await context.emit(
        event,
        {
            "job_id": str(context.job.id),
            "connection_id": str(connection.id),
            "client_id": connection.client_id,
            "full": full,
            "counts": counts,
        },
    )
    return JobOutcome(
        status=JobStatus.PARTIALLY_FAILED if errors else JobStatus.SUCCEEDED,
        counts=counts,
        errors=errors,
        result={"full": full, "watermark": newest.isoformat() if newest else None},
    )
