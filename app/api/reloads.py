"""Reloads: back-fill a company's (or some clients') monthly statistics, and follow one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app.api.deps import ResourcesDep, UnitOfWorkDep
from app.api.params import CompanyId
from app.api.responses import problems
from app.connections.service import require_enabled
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.errors import NotFound
from app.queue.names import JobName
from app.statistics.reload_requests import request_reload
from app.statistics.schemas import (
    ReloadIn,
    ReloadOut,
)
from app.webhooks.service import check_target

router = APIRouter(tags=["statistics"])


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
