"""Background jobs: read any job's status, and a diagnostic ping through the worker."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.api.deps import UnitOfWorkDep
from app.api.responses import problems
from app.db.repositories import jobs as job_repo
from app.errors import NotFound
from app.jobs.schemas import JobOut
from app.queue.names import JobName

router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobOut, responses=problems(401, 404, 422))
async def get_job(job_id: uuid.UUID, uow: UnitOfWorkDep) -> JobOut:
    """Any background job: kind, status, progress, counts, errors and timestamps."""
    job = await job_repo.get_job(uow.session, job_id)
    if job is None:
        raise NotFound("job")
    return JobOut.of(job)


@router.post(
    "/diagnostics/ping",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(401),
)
async def ping_worker(uow: UnitOfWorkDep) -> JobOut:
    """Queue a `ping` job: when it succeeds, API, Redis, worker and Postgres all work."""
    job = await job_repo.create_job(uow.session, kind=JobName.PING.value)
    uow.enqueue_after_commit(JobName.PING, job.id)
    return JobOut.of(job)
