"""`ping`: a diagnostic job proving the whole path works — API → Redis → worker → Postgres."""

from __future__ import annotations

import socket

from app.db.repositories import system as system_repo
from app.jobs.runner import JobContext, JobOutcome, JobSpec
from app.queue.names import JobName


async def ping(context: JobContext) -> JobOutcome:
    """Round-trips the database from the worker and reports which host answered."""
    database_time = await system_repo.database_now(context.session)
    return JobOutcome(
        counts={"pongs": 1},
        result={"worker_host": socket.gethostname(), "database_time": str(database_time)},
    )


PING = JobSpec(name=JobName.PING, handler=ping, max_attempts=1)
