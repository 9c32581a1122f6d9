"""The recovery sweep: exports whose send job ended (or vanished) without settling them.

A `sending` export whose job failed — retries used up on an unknown outcome, a crash
between the put and the record, a look-up Directo refused (a revoked token, a feed not
activated), an unexpected error — gets a new send job, which looks
the number up in Directo before sending anything (see `sending.py`). The sweep waits
`RECOVER_AFTER` of quiet first (Directo asks for ≥ 60 s between retries); a `sending`
export that keeps failing is given up by `sending.on_send_failure` after
`MAX_RECOVERIES` rounds, so the sweep cannot loop for ever.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Job
from app.db.repositories import exports as export_repo
from app.exports.service import start_send

RECOVER_AFTER = dt.timedelta(minutes=2)
MAX_PER_TICK = 100


async def recover_stuck_exports(
    session: AsyncSession, *, now: dt.datetime, idle: dt.timedelta = RECOVER_AFTER
) -> list[Job]:
    """New send jobs for stuck exports (the caller commits, then enqueues them)."""
    stuck = await export_repo.stuck_exports(session, idle_before=now - idle, limit=MAX_PER_TICK)
    return [await start_send(session, export) for export in stuck]
