"""Invoice exports: the failed ones with their errors and fixes, and one export with the
XML sent to Directo and its answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.console.deps import ConsoleNotFound, OperatorDep, PagesDep, WorkDep
from app.console.jobs import parse_id
from app.db.repositories import overview
from app.errors import NotFound
from app.exports import service
from app.exports.schemas import ExportDetailOut, ExportOut
from app.payments import record as payment_record

router = APIRouter()


@router.get("/exports", response_class=HTMLResponse)
async def exports(
    request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    failed = await overview.failed_exports(work.session)
    return pages.render(
        request,
        "exports.html",
        session=session,
        failed=[ExportOut.of(row, overpaid_amount=payment_record.overpaid(row)) for row in failed],
    )


@router.get("/exports/{company_id}/{export_id}", response_class=HTMLResponse)
async def export(
    company_id: str,
    export_id: str,
    request: Request,
    pages: PagesDep,
    session: OperatorDep,
    work: WorkDep,
) -> HTMLResponse:
    """One export as the API's `GET …/directo/invoices/{id}` shows it."""
    what = f"invoice export {export_id}"
    try:
        row = await service.get_export(work.session, company_id, parse_id(export_id, what))
    except NotFound as exc:
        raise ConsoleNotFound(what) from exc
    shown = ExportDetailOut.of(row, overpaid_amount=payment_record.overpaid(row))
    return pages.render(request, "export.html", session=session, export=shown)
