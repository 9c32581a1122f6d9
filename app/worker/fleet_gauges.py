"""The deployment-wide gauges, read from the database when a worker is scraped.

Queue depth and the oldest queued job per kind, the webhook outbox's size and lag, and
each feed's freshness lag aggregated over connections (the largest, and cumulative counts
of connections within 1 h, 6 h, 1 d, 3 d, 7 d) — so a thousand connections make a handful
of series. Every worker reports the same values; a dashboard takes any (or `max`).

Reading at scrape time costs nothing while nobody scrapes and is never stale when someone
does. A database that does not answer within a few seconds leaves the previous values and
counts `gateway_fleet_gauges_errors_total`: the process's own counters are served anyway.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.exc import SQLAlchemyError

from app.db.models import JobStatus
from app.db.repositories import fleet
from app.metrics import (
    FLEET_SCRAPE_ERRORS,
    FRESHNESS_CONNECTIONS,
    FRESHNESS_LAG_BUCKETS,
    FRESHNESS_MAX_SECONDS,
    JOBS_QUEUED,
    JOBS_RUNNING,
    OLDEST_QUEUED_SECONDS,
    OUTBOX_LAG_SECONDS,
    OUTBOX_PENDING,
)
from app.queue.names import JobName
from app.resources import Resources

log = structlog.get_logger(__name__)

REFRESH_TIMEOUT = 5.0


async def refresh(resources: Resources) -> None:
    """Read the figures and set the gauges (all at once, after every read succeeded)."""
    try:
        async with asyncio.timeout(REFRESH_TIMEOUT):
            async with resources.sessionmaker() as session:
                queue = await fleet.job_queue(session)
                outbox = await fleet.outbox(session)
                feeds = await fleet.freshness(session, thresholds=FRESHNESS_LAG_BUCKETS)
    except (TimeoutError, SQLAlchemyError, OSError) as exc:
        FLEET_SCRAPE_ERRORS.inc()
        log.warning("fleet_gauges_unavailable", error_type=type(exc).__name__)
        return
    _set_queue(queue)
    OUTBOX_PENDING.set(outbox.pending)
    OUTBOX_LAG_SECONDS.set(outbox.oldest_age_seconds)
    _set_freshness(feeds)


def _set_queue(rows: list[fleet.QueueRow]) -> None:
    # Every kind is reported, 0 when idle, so a drained queue reads 0 rather than vanishing.
    kinds = {name.value for name in JobName} | {row.kind for row in rows}
    for kind in kinds:
        queued = next((r for r in rows if r.kind == kind and r.status is JobStatus.QUEUED), None)
        running = next((r for r in rows if r.kind == kind and r.status is JobStatus.RUNNING), None)
        JOBS_QUEUED.labels(kind).set(queued.jobs if queued else 0)
        OLDEST_QUEUED_SECONDS.labels(kind).set(queued.oldest_age_seconds if queued else 0)
        JOBS_RUNNING.labels(kind).set(running.jobs if running else 0)


def _set_freshness(rows: list[fleet.Freshness]) -> None:
    FRESHNESS_MAX_SECONDS.clear()
    FRESHNESS_CONNECTIONS.clear()
    for row in rows:
        FRESHNESS_MAX_SECONDS.labels(row.feed).set(row.max_lag_seconds)
        for limit, within in zip(FRESHNESS_LAG_BUCKETS, row.connections_within, strict=True):
            FRESHNESS_CONNECTIONS.labels(row.feed, f"{limit:g}").set(within)
        FRESHNESS_CONNECTIONS.labels(row.feed, "+Inf").set(row.connections)
