"""The operator's lists: a company's jobs, a job's Directo calls, a company's reloads, and
its failing webhook deliveries — newest first (a job's calls in the order they were made),
cursor-paged, each answering only the company asked for."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import CursorsDep, UnitOfWorkDep
from app.api.pagination import CursorQuery, LimitQuery
from app.api.params import CompanyId
from app.api.responses import problems
from app.calllog.schemas import CallOut, CallPage
from app.db.models import JobStatus
from app.db.repositories import directo_calls as call_repo
from app.db.repositories import jobs as job_repo
from app.db.repositories import operator_lists as list_repo
from app.db.repositories import webhooks as webhook_repo
from app.errors import AppError, NotFound
from app.jobs.schemas import JobOut, JobPage
from app.queue.names import JobName
from app.statistics.schemas import ReloadPage, ReloadSummaryOut
from app.webhooks.schemas import DeliveryOut, DeliveryPage

router = APIRouter(tags=["operations"])
_JOBS, _CALLS, _RELOADS, _FAILING = "jobs", "job-calls", "reloads", "failing-deliveries"

CompanyQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Uku company id (required: every list answers one company)",
    ),
]
AwareTime = Annotated[
    dt.datetime | None,
    Query(description="ISO 8601 with a zone offset, e.g. 2026-12-03T10:00:00Z"),
]


class DeliveryFilter(StrEnum):
    FAILING = "failing"  # given up, or retrying after a failed attempt
    FAILED = "failed"  # given up only


def _aware(name: str, value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise AppError(
            "time_zone_missing",
            f"`{name}` needs a zone offset (e.g. 2026-12-03T10:00:00Z).",
            status=422,
        )
    return value


@router.get("/jobs", response_model=JobPage, responses=problems(422))
async def list_jobs(
    company_id: CompanyQuery,
    uow: UnitOfWorkDep,
    cursors: CursorsDep,
    kind: Annotated[list[JobName] | None, Query(description="Any of these kinds")] = None,
    status: Annotated[list[JobStatus] | None, Query(description="Any of these statuses")] = None,
    created_since: AwareTime = None,
    created_until: AwareTime = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> JobPage:
    """The company's jobs, newest first: created in [`created_since`, `created_until`), of
    any of the `kind`s and `status`es given (repeat a parameter for several). E.g. every
    failed job of the last hour: `?company_id=C&status=failed&created_since=<an hour ago>`."""
    rows = await list_repo.list_jobs(
        uow.session,
        company_id,
        kinds=[name.value for name in kind or ()],
        statuses=status or (),
        since=_aware("created_since", created_since),
        until=_aware("created_until", created_until),
        before=cursors.read_row(_JOBS, cursor),
        limit=limit + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = cursors.after_row(_JOBS, page[-1].created_at, page[-1].id) if more else None
    return JobPage(items=[JobOut.of(job) for job in page], next_cursor=next_cursor)


@router.get("/jobs/{job_id}/calls", response_model=CallPage, responses=problems(404, 422))
async def list_job_calls(
    job_id: uuid.UUID,
    uow: UnitOfWorkDep,
    cursors: CursorsDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> CallPage:
    """Every Directo call the job made (one item per HTTP attempt), in the order they
    ended: feed and operation, the filters sent (never the token), HTTP status, Directo's
    result type and text, bytes and records, duration, attempt and error code. Calls are
    written in batches (at the end of each run, and every few seconds), and kept for
    `GATEWAY_CALL_LOG__RETENTION_DAYS` (30) days."""
    if await job_repo.get_job(uow.session, job_id) is None:
        raise NotFound("job")
    rows = await call_repo.calls_of_job(
        uow.session, job_id, after=cursors.read_row(_CALLS, cursor), limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = cursors.after_row(_CALLS, page[-1].created_at, page[-1].id) if more else None
    return CallPage(items=[CallOut.of(row) for row in page], next_cursor=next_cursor)


@router.get(
    "/companies/{company_id}/directo/reloads", response_model=ReloadPage, responses=problems(422)
)
async def list_reloads(
    company_id: CompanyId,
    uow: UnitOfWorkDep,
    cursors: CursorsDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> ReloadPage:
    """The company's reloads, newest first, with status and progress (per-client results:
    `GET /v1/reloads/{id}`)."""
    rows = await list_repo.list_reloads(
        uow.session, company_id, before=cursors.read_row(_RELOADS, cursor), limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    last = page[-1][0] if page else None
    next_cursor = cursors.after_row(_RELOADS, last.created_at, last.id) if more and last else None
    return ReloadPage(
        items=[ReloadSummaryOut.of(reload, job) for reload, job in page], next_cursor=next_cursor
    )


@router.get(
    "/companies/{company_id}/webhooks/deliveries",
    response_model=DeliveryPage,
    responses=problems(422),
)
async def list_failing_deliveries(
    company_id: CompanyId,
    uow: UnitOfWorkDep,
    cursors: CursorsDep,
    status: DeliveryFilter = DeliveryFilter.FAILING,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> DeliveryPage:
    """Failing deliveries across the company's endpoints and callback URLs, newest first,
    each with its attempts: `failing` = given up or retrying after a failed attempt,
    `failed` = given up (redeliver with `POST /v1/webhook-deliveries/{id}/redeliver`)."""
    rows = await list_repo.company_deliveries(
        uow.session,
        company_id,
        failed_only=status is DeliveryFilter.FAILED,
        before=cursors.read_row(_FAILING, cursor),
        limit=limit + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    attempts = await webhook_repo.attempts_of(uow.session, [delivery.id for delivery, _ in page])
    last = page[-1][0] if page else None
    next_cursor = cursors.after_row(_FAILING, last.created_at, last.id) if more and last else None
    return DeliveryPage(
        items=[DeliveryOut.of(delivery, event, attempts[delivery.id]) for delivery, event in page],
        next_cursor=next_cursor,
    )
