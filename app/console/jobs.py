"""Jobs: what runs now (with live progress), what failed and how to fix it, and each job's
log of Directo calls."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.calllog.schemas import CallOut
from app.console.deps import ConsoleNotFound, OperatorDep, PagesDep, WorkDep
from app.db.models import JobStatus
from app.db.models.enums import ACTIVE_JOB_STATUSES
from app.db.repositories import directo_calls as call_repo
from app.db.repositories import jobs as job_repo
from app.db.repositories import overview
from app.jobs.schemas import JobOut

router = APIRouter()

FAILED = (JobStatus.FAILED, JobStatus.PARTIALLY_FAILED)
_CALLS_SHOWN = 500


def parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ConsoleNotFound(what) from exc


async def _running(work: WorkDep) -> list[JobOut]:
    jobs = await overview.jobs_with_status(work.session, ACTIVE_JOB_STATUSES)
    return [JobOut.of(job) for job in jobs]


@router.get("/jobs", response_class=HTMLResponse)
async def jobs(
    request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    failed = await overview.jobs_with_status(work.session, FAILED)
    return pages.render(
        request,
        "jobs.html",
        session=session,
        running=await _running(work),
        failed=[JobOut.of(job) for job in failed],
    )


@router.get("/jobs/live", response_class=HTMLResponse)
async def running_live(
    request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    """The running jobs' table alone, polled by the jobs page."""
    return pages.render(
        request, "_running_jobs.html", session=session, running=await _running(work)
    )


async def _job(work: WorkDep, job_id: str) -> JobOut:
    job = await job_repo.get_job(work.session, parse_id(job_id, f"job {job_id}"))
    if job is None:
        raise ConsoleNotFound(f"job {job_id}")
    return JobOut.of(job)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job(
    job_id: str, request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    shown = await _job(work, job_id)
    calls = await call_repo.calls_of_job(work.session, shown.id, after=None, limit=_CALLS_SHOWN + 1)
    return pages.render(
        request,
        "job.html",
        session=session,
        job=shown,
        calls=[CallOut.of(call) for call in calls[:_CALLS_SHOWN]],
        more_calls=len(calls) > _CALLS_SHOWN,
    )


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
async def job_live(
    job_id: str, request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    """The job's status and progress alone, polled by its page until it ends."""
    return pages.render(request, "_job_status.html", session=session, job=await _job(work, job_id))
