"""Scheduled catalogue refresh: every enabled connection's customers and articles are
imported incrementally about every `catalogue_refresh_hours`.

Each connection gets a stable phase (from its id) within the first tenth of the interval, so
connections added together do not all call Directo at once. A tick creates at most
`MAX_PER_TICK` imports, least recently refreshed first, in a fixed number of statements
whatever the fleet's size: one query of candidates per feed and one multi-row INSERT per
thousand jobs (`jobs.create_singleflight_jobs`). Starting is single-flight per connection
and feed, so overlapping ticks or several workers never run an import twice. The caller
queues the jobs within the queue's cap (`JobQueue.enqueue_within`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Job
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import jobs as job_repo
from app.sync.imports import Feed, import_job, import_key_prefix

# About 3,000 imports an hour at one tick every 10 minutes: thousands of connections
# refresh both feeds every 6 hours with room to spare.
MAX_PER_TICK = 500


def phase(connection_id: uuid.UUID, feed: Feed, interval: dt.timedelta) -> dt.timedelta:
    """A stable offset in [0, interval/10) that spreads connections over time."""
    digest = hashlib.sha256(f"{connection_id}:{feed.value}".encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return interval * 0.1 * fraction


async def start_due_refreshes(
    session: AsyncSession,
    *,
    now: dt.datetime,
    interval: dt.timedelta,
    limit: int = MAX_PER_TICK,
) -> list[Job]:
    """Create the incremental imports that are due (at most `limit`); returns the jobs
    created (the caller commits, then queues them)."""
    due: list[job_repo.SingleflightJob] = []
    for feed in Feed:
        candidates = await catalog_repo.refresh_candidates(
            session,
            feed=feed.value,
            ran_before=now - interval,
            limit=2 * (limit - len(due)),
            pending_key_prefix=import_key_prefix(feed),
        )
        for connection, last in candidates:
            if last is not None and now < last + interval + phase(connection.id, feed, interval):
                continue
            due.append(import_job(connection, feed))
            if len(due) >= limit:
                return await job_repo.create_singleflight_jobs(session, due)
    return await job_repo.create_singleflight_jobs(session, due)
