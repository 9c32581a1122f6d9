"""Companies and their Directo connections: health, the last test feed by feed, and each
feed's sync status and staleness (the same service as the API's sync-status routes)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.connections.schemas import ConnectionOut
from app.console.deps import ConsoleNotFound, OperatorDep, PagesDep, ResourcesDep, WorkDep
from app.db.repositories import connections as connection_repo
from app.db.repositories import overview
from app.overview.sync_status import sync_status

router = APIRouter()


@router.get("", response_class=HTMLResponse)
async def companies(
    request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    """Every company, each with its connections' health at a glance."""
    integrations = await overview.integrations(work.session)
    grouped = await overview.connections_by_company(
        work.session, [integration.company_id for integration in integrations]
    )
    rows = [
        (integration, [ConnectionOut.of(row) for row in grouped[integration.company_id]])
        for integration in integrations
    ]
    return pages.render(request, "companies.html", session=session, companies=rows)


@router.get("/companies/{company_id}", response_class=HTMLResponse)
async def company(
    company_id: str,
    request: Request,
    pages: PagesDep,
    session: OperatorDep,
    work: WorkDep,
    resources: ResourcesDep,
) -> HTMLResponse:
    """One company: its integration settings and every current connection in full."""
    integration = await connection_repo.get_integration(work.session, company_id)
    if integration is None:
        raise ConsoleNotFound(f"company {company_id}")
    rows = await overview.current_connections(work.session, company_id)
    connections = [
        (ConnectionOut.of(row), await sync_status(work.session, row, settings=resources.settings))
        for row in rows
    ]
    return pages.render(
        request,
        "company.html",
        session=session,
        integration=integration,
        connections=connections,
    )
