"""Starting a reload outside the API (ops, the CLI) and following it to its end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from app.connections.service import require_enabled
from app.db.models import JobStatus, Reload
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.queue.names import JobName
from app.resources import Resources
from app.statistics.reload_requests import ReloadRequest, request_reload


async def start_reload(
    resources: Resources, *, company_id: str, client_ids: list[str] | None, months: int
) -> ReloadRequest:
    """What `POST …/directo/reloads` does: a new reload (queued) or the overlapping one."""
    async with resources.sessionmaker() as session, session.begin():
        await require_enabled(session, company_id)
        requested = await request_reload(
            session, company_id=company_id, client_ids=client_ids, months=months, reason="ops"
        )
    if requested.created:
        await resources.queue.enqueue(JobName.STATISTICS_RELOAD, requested.job.id)
    return requested


async def follow_reload(
    resources: Resources,
    reload_id: uuid.UUID,
    on_progress: Callable[[Reload], None],
    *,
    poll_seconds: float = 0.5,
) -> tuple[Reload, JobStatus]:
    """Poll the reload until its job ends, reporting each reading; returns the last one."""
    while True:
        async with resources.sessionmaker() as session:
            reload = await statistics_repo.get_reload(session, reload_id)
            assert reload is not None
            job = await job_repo.get_job(session, reload.job_id)
            assert job is not None
        on_progress(reload)
        if job.status.is_final:
            return reload, job.status
        await asyncio.sleep(poll_seconds)
