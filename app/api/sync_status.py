"""Sync status of a company's connection and of a client's own connection."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import SettingsDep, UnitOfWorkDep
from app.api.params import ClientId, CompanyId
from app.api.responses import problems
from app.connections import service
from app.overview.sync_status import SyncStatusOut, sync_status

router = APIRouter(tags=["operations"])


@router.get(
    "/companies/{company_id}/directo/sync-status",
    response_model=SyncStatusOut,
    responses=problems(404, 422),
)
async def company_sync_status(
    company_id: CompanyId, uow: UnitOfWorkDep, settings: SettingsDep
) -> SyncStatusOut:
    """Per feed of the company's connection (customers, articles, payments, statistics):
    the last successful and failed run, the watermark, records held, the next scheduled
    run, and `stale` with `stale_since` when it is older than its schedule allows (each
    feed's rule is in `stale_rule`; README "Sync status")."""
    connection = await service.get_connection(uow.session, company_id, None)
    return await sync_status(uow.session, connection, settings=settings)


@router.get(
    "/companies/{company_id}/clients/{client_id}/directo/sync-status",
    response_model=SyncStatusOut,
    responses=problems(404, 422),
)
async def client_sync_status(
    company_id: CompanyId, client_id: ClientId, uow: UnitOfWorkDep, settings: SettingsDep
) -> SyncStatusOut:
    """The same for a client's own connection (404 when the client has none)."""
    connection = await service.get_connection(uow.session, company_id, client_id)
    return await sync_status(uow.session, connection, settings=settings)
