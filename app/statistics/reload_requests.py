"""Reloads (back-fills of monthly statistics): requesting one.

One reload per scope at a time: a request whose clients overlap a reload still under way
gets that reload instead of a second one. Requests of one company are serialised by an
advisory lock, so two at once cannot both start.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Job, Reload
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.errors import AppError, Conflict, ProblemItem
from app.queue.names import JobName
from app.statistics.import_days import add_months, first_of_month, local_today
from app.statistics.sources import company_sources
from app.statistics.storage import mapped_keys

MAX_MONTHS = 36


@dataclass(frozen=True, slots=True)
class ReloadRequest:
    reload: Reload
    job: Job
    created: bool


async def _overlapping(
    session: AsyncSession, company_id: str, client_ids: set[str] | None
) -> Reload | None:
    for running in await statistics_repo.active_reloads(session, company_id):
        if client_ids is None or running.all_clients:
            return running
        if client_ids & set(await statistics_repo.reload_client_ids(session, running.id)):
            return running
    return None


async def _require_settings(session: AsyncSession, company_id: str) -> None:
    settings = await statistics_repo.get_summary_settings(session, company_id)
    if settings is None or not mapped_keys(settings.field_mapping):
        raise Conflict(
            "summary_settings_missing",
            "No Directo field is mapped to an Uku field for this company: set the summary "
            "settings' field mapping first (PUT …/directo/summary-settings).",
        )


async def _check_clients(
    session: AsyncSession, company_id: str, client_ids: list[str] | None
) -> list[str]:
    sources = await company_sources(session, company_id)
    if client_ids is None:
        if not sources:
            raise AppError(
                "no_clients",
                "No client of this company has Directo data: link clients to Directo "
                "customers or give them their own connection first.",
                status=422,
            )
        return sorted(sources)
    unknown = [client_id for client_id in client_ids if client_id not in sources]
    if unknown:
        raise AppError(
            "client_not_connected",
            f"{len(unknown)} client(s) are neither linked to a Directo customer nor have their "
            "own connection: link them first.",
            status=422,
            errors=[
                ProblemItem(
                    code="client_not_connected",
                    message=f"client {client_id!r} has no Directo data",
                    loc=["body", "client_ids", index],
                )
                for index, client_id in enumerate(client_ids)
                if client_id in unknown
            ],
        )
    return sorted(set(client_ids))


async def request_reload(
    session: AsyncSession,
    *,
    company_id: str,
    client_ids: list[str] | None,
    months: int = 12,
    callback_url: str | None = None,
    reason: str = "requested",
    today: dt.date | None = None,
) -> ReloadRequest:
    """The reload under way for an overlapping scope, or a new one of the `months` months
    ending with the current one, for `client_ids` (None: every client with Directo data).

    Raises when no field is mapped or a client has no Directo data. The caller commits and
    enqueues a created reload's job.
    """
    if not 1 <= months <= MAX_MONTHS:
        raise AppError("months_invalid", f"months must be 1 to {MAX_MONTHS}.", status=422)
    await statistics_repo.lock_company_reloads(session, company_id)
    scope = None if client_ids is None else set(client_ids)
    running = await _overlapping(session, company_id, scope)
    if running is not None:
        job = await job_repo.get_job(session, running.job_id)
        assert job is not None
        return ReloadRequest(running, job, created=False)
    await _require_settings(session, company_id)
    clients = await _check_clients(session, company_id, client_ids)
    current = first_of_month(today or local_today())
    job = await job_repo.create_job(
        session,
        kind=JobName.STATISTICS_RELOAD.value,
        company_id=company_id,
        params={"reason": reason},
        callback_url=callback_url,
    )
    reload = Reload(
        id=uuid.uuid4(),
        company_id=company_id,
        job_id=job.id,
        months=months,
        month_from=add_months(current, -(months - 1)),
        month_to=current,
        all_clients=client_ids is None,
        callback_url=callback_url,
        reason=reason,
        clients_total=len(clients),
        phase="queued",
    )
    session.add(reload)
    await session.flush()
    await statistics_repo.add_reload_clients(session, reload.id, clients)
    job.params = {**job.params, "reload_id": str(reload.id)}
    job.progress_total = len(clients)
    await session.flush()
    return ReloadRequest(reload, job, created=True)


async def reload_relinked(
    session: AsyncSession, company_id: str, client_id: str
) -> ReloadRequest | None:
    """A reload of a client just re-linked to another customer (or the one under way that
    covers it); none while no field is mapped, as there is nothing to back-fill then."""
    try:
        return await request_reload(
            session, company_id=company_id, client_ids=[client_id], reason="relinked"
        )
    except Conflict:
        return None
