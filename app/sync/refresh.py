"""Scheduled catalogue refresh: every enabled connection's customers and articles are
imported incrementally about every `catalogue_refresh_hours`.

Each connection gets a stable phase (from its id) within the first tenth of the interval,
and a tick starts at most `MAX_PER_TICK` imports, so connections added together do not all
call Directo at once. Starting is single-flight per connection and feed, so overlapping
ticks or several workers never run an import twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Job
from app.db.repositories import catalog as catalog_repo
from app.sync.imports import Feed, start_import

MAX_PER_TICK = 20


def phase(connection_id: uuid.UUID, feed: Feed, interval: dt.timedelta) -> dt.timedelta:
    """A stable offset in [0, interval/10) that spreads connections over time."""
    digest = hashlib.sha256(f"{connection_id}:{feed.value}".encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return interval * 0.1 * fraction


async def start_due_refreshes(
    session: AsyncSession, *, now: dt.datetime, interval: dt.timedelta
) -> list[Job]:
    """Queue incremental imports that are due; returns the jobs created (caller enqueues)."""
    started: list[Job] = []
    for feed in Feed:
        candidates = await catalog_repo.refresh_candidates(
            session, feed=feed.value, ran_before=now - interval, limit=MAX_PER_TICK * 2
        )
        for connection in candidates:
            watermark = await catalog_repo.get_watermark(session, connection.id, feed.value)
            last = watermark.last_run_at if watermark else None
            if last is not None and now < last + interval + phase(connection.id, feed, interval):
                continue
            job, created = await start_import(session, connection, feed)
            if created:
                started.append(job)
            if len(started) >= MAX_PER_TICK:
                return started
    return started
