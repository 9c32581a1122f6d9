"""Background jobs: read any job's status, and a diagnostic ping through the worker."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel

from app.api.deps import UnitOfWorkDep
from app.api.responses import problems
from app.db.models import Job, JobStatus
from app.db.repositories import jobs as job_repo
from app.errors import NotFound
from app.jobs.names import JobName

router = APIRouter(tags=["jobs"])


class JobProgress(BaseModel):
    done: int
    total: int | None
    phase: str | None


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: JobStatus
    company_id: str | None
    progress: JobProgress
    counts: dict[str, Any]
    errors: list[dict[str, Any]]
    result: dict[str, Any] | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            company_id=job.company_id,
            progress=JobProgress(done=job.progress_done, total=job.progress_total, phase=job.phase),
            counts=job.counts,
            errors=job.errors,
            result=job.result,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            heartbeat_at=job.heartbeat_at,
            finished_at=job.finished_at,
        )


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
    await uow.commit()
    return JobOut.of(job)
