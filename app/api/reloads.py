"""Reloads: back-fill a company's (or some clients') monthly statistics, and follow one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.api.deps import ResourcesDep, UnitOfWorkDep
from app.api.params import CompanyId
from app.api.responses import problems
from app.connections.service import require_enabled
from app.db.models import Job, JobStatus, Reload, ReloadClient, ReloadClientStatus
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.errors import NotFound
from app.jobs.names import JobName
from app.statistics.reloads import MAX_MONTHS, request_reload
from app.statistics.store import month_key
from app.webhooks.service import check_target

router = APIRouter(tags=["statistics"])

ClientIdItem = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]


class ReloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_ids: list[ClientIdItem] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Clients to reload (default: every client with Directo data)",
    )
    months: int = Field(
        default=12, ge=1, le=MAX_MONTHS, description="Months to back-fill, ending this month"
    )
    callback_url: str | None = Field(
        default=None, max_length=2048, description="Also told `reload.completed`, signed"
    )


class ReloadProgress(BaseModel):
    clients_total: int
    clients_done: int
    clients_failed: int


class ReloadClientOut(BaseModel):
    client_id: str
    status: ReloadClientStatus
    months_written: int
    error: dict[str, Any] | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, row: ReloadClient) -> ReloadClientOut:
        return cls(
            client_id=row.client_id,
            status=row.status,
            months_written=row.months_written,
            error=row.error,
            finished_at=row.finished_at,
        )


class ReloadOut(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID
    company_id: str
    status: JobStatus
    phase: str | None
    reason: str | None
    months: int
    month_from: str = Field(description="First month reloaded, YYYY-MM")
    month_to: str = Field(description="Last month reloaded, YYYY-MM")
    all_clients: bool
    progress: ReloadProgress
    clients: list[ReloadClientOut]
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, reload: Reload, job: Job, clients: list[ReloadClient]) -> ReloadOut:
        return cls(
            id=reload.id,
            job_id=reload.job_id,
            company_id=reload.company_id,
            status=job.status,
            phase=reload.phase,
            reason=reload.reason,
            months=reload.months,
            month_from=month_key(reload.month_from),
            month_to=month_key(reload.month_to),
            all_clients=reload.all_clients,
            progress=ReloadProgress(
                clients_total=reload.clients_total,
                clients_done=reload.clients_done,
                clients_failed=reload.clients_failed,
            ),
            clients=[ReloadClientOut.of(row) for row in clients],
            created_at=reload.created_at,
            finished_at=reload.finished_at,
        )


@router.post(
    "/companies/{company_id}/directo/reloads",
    response_model=ReloadOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "A reload of an overlapping scope is under way: that one"},
        **problems(404, 409, 422),
    },
)
async def start_reload(
    company_id: CompanyId,
    body: ReloadIn,
    uow: UnitOfWorkDep,
    resources: ResourcesDep,
    response: Response,
) -> ReloadOut:
    """Back-fill `months` months of statistics (overwriting them) in the background; a
    reload already under way for an overlapping set of clients is returned instead."""
    await require_enabled(uow.session, company_id)
    if body.callback_url:
        await check_target(body.callback_url, resources.settings.webhooks)
    requested = await request_reload(
        uow.session,
        company_id=company_id,
        client_ids=body.client_ids,
        months=body.months,
        callback_url=body.callback_url,
    )
    if requested.created:
        uow.enqueue_after_commit(JobName.STATISTICS_RELOAD, requested.job.id)
    else:
        response.status_code = status.HTTP_200_OK
    clients = await statistics_repo.reload_clients(uow.session, requested.reload.id)
    await uow.commit()
    return ReloadOut.of(requested.reload, requested.job, clients)


@router.get("/reloads/{reload_id}", response_model=ReloadOut, responses=problems(404, 422))
async def get_reload(reload_id: uuid.UUID, uow: UnitOfWorkDep) -> ReloadOut:
    """A reload's status, progress (clients total/done/failed, phase) and per-client results."""
    reload = await statistics_repo.get_reload(uow.session, reload_id)
    if reload is None:
        raise NotFound("reload")
    job = await job_repo.get_job(uow.session, reload.job_id)
    assert job is not None
    clients = await statistics_repo.reload_clients(uow.session, reload.id)
    return ReloadOut.of(reload, job, clients)
