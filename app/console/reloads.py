"""Reloads: the recent ones, a form to start one, and one reload followed to its end."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.connections.service import require_enabled
from app.console import audit
from app.console.deps import (
    CheckedFormDep,
    ConsoleNotFound,
    Form,
    OperatorDep,
    PagesDep,
    WorkDep,
)
from app.console.jobs import parse_id
from app.console.session import OpsSession
from app.db.repositories import jobs as job_repo
from app.db.repositories import overview
from app.db.repositories import statistics as statistics_repo
from app.errors import AppError, ProblemItem
from app.queue.names import JobName
from app.statistics.reload_requests import MAX_MONTHS, request_reload
from app.statistics.schemas import ReloadIn, ReloadOut, ReloadSummaryOut

# The API's rule for a company id (its path parameter).
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

router = APIRouter()


async def _list_page(
    request: Request,
    pages: PagesDep,
    session: OpsSession,
    work: WorkDep,
    *,
    form: Form | None = None,
    problem: AppError | None = None,
) -> HTMLResponse:
    recent = await overview.recent_reloads(work.session)
    companies = await overview.integrations(work.session)
    return pages.render(
        request,
        "reloads.html",
        session=session,
        status=problem.status if problem else 200,
        reloads=[(reload.company_id, ReloadSummaryOut.of(reload, job)) for reload, job in recent],
        companies=[row.company_id for row in companies if row.enabled],
        max_months=MAX_MONTHS,
        form=form,
        problem=problem,
    )


@router.get("/reloads", response_class=HTMLResponse)
async def reloads(
    request: Request,
    pages: PagesDep,
    session: OperatorDep,
    work: WorkDep,
    company: str | None = None,
) -> HTMLResponse:
    """Recent reloads and the form (`?company=` picks the company in it)."""
    form = Form({"company": [company]}) if company else None
    return await _list_page(request, pages, session, work, form=form)


def _months(form: Form) -> int:
    text = form.get("months") or "12"
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_MONTHS:
        raise AppError(
            "months_invalid",
            f"Months must be a whole number from 1 to {MAX_MONTHS}.",
            status=422,
            errors=[ProblemItem(code="months_invalid", message=text, loc=["months"])],
        )
    return int(text)


def _clients(form: Form) -> list[str] | None:
    """The client ids typed (comma, space or line separated), held to the API's rules for
    them (`ReloadIn`); None: every client."""
    ids = [part for part in form.get("clients").replace(",", " ").split() if part]
    if not ids:
        return None
    try:
        return ReloadIn(client_ids=ids).client_ids
    except ValidationError as error:
        raise AppError(
            "client_ids_invalid",
            "Client ids are 1–64 characters of letters, digits and . _ : -, at most 1,000.",
            status=422,
            errors=[ProblemItem(code="client_ids_invalid", message=str(len(ids)), loc=["clients"])],
        ) from error


def _company(form: Form) -> str:
    """The company id, held to the API's rule for it (see `_ID`)."""
    company_id = form.get("company")
    if not _ID.fullmatch(company_id):
        raise AppError(
            "company_id_invalid",
            "A company id is 1–64 characters of letters, digits and . _ : -.",
            status=422,
            errors=[ProblemItem(code="company_id_invalid", message="", loc=["company"])],
        )
    return company_id


@router.post("/reloads", response_class=HTMLResponse)
async def start_reload(
    request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep, form: CheckedFormDep
) -> Response:
    """Start a reload as the API's `POST …/directo/reloads` does (an overlapping one under
    way is shown instead), then follow it on its page; refusals are shown on the form."""
    assert session.operator is not None
    company_id = form.get("company")
    try:
        company_id = _company(form)
        months = _months(form)
        await require_enabled(work.session, company_id)
        requested = await request_reload(
            work.session, company_id=company_id, client_ids=_clients(form), months=months
        )
    except AppError as problem:
        await work.session.rollback()
        return await _list_page(request, pages, session, work, form=form, problem=problem)
    if requested.created:
        work.enqueue_after_commit(JobName.STATISTICS_RELOAD, requested.job.id)
    await work.commit()
    audit.action(
        request,
        session.operator,
        "reload.start",
        company_id=company_id,
        reload_id=str(requested.reload.id),
        created=requested.created,
        months=months,
        clients=_clients(form) or "all",
    )
    return RedirectResponse(
        f"/ops/reloads/{requested.reload.id}", status_code=status.HTTP_303_SEE_OTHER
    )


async def _reload(work: WorkDep, reload_id: str) -> ReloadOut:
    reload = await statistics_repo.get_reload(
        work.session, parse_id(reload_id, f"reload {reload_id}")
    )
    if reload is None:
        raise ConsoleNotFound(f"reload {reload_id}")
    job = await job_repo.get_job(work.session, reload.job_id)
    assert job is not None
    clients = await statistics_repo.reload_clients(work.session, reload.id)
    return ReloadOut.of(reload, job, clients)


@router.get("/reloads/{reload_id}", response_class=HTMLResponse)
async def reload(
    reload_id: str, request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    shown = await _reload(work, reload_id)
    return pages.render(request, "reload.html", session=session, reload=shown)


@router.get("/reloads/{reload_id}/live", response_class=HTMLResponse)
async def reload_live(
    reload_id: str, request: Request, pages: PagesDep, session: OperatorDep, work: WorkDep
) -> HTMLResponse:
    """The reload's progress and per-client table alone, polled until it ends."""
    shown = await _reload(work, reload_id)
    return pages.render(request, "_reload_status.html", session=session, reload=shown)
