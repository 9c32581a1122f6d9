"""Reloads (back-fills of monthly statistics): requesting one.

One reload per scope at a time: a request whose clients overlap a reload still under way
gets that reload instead of a second one.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Job, Reload, ReloadClient
from app.db.repositories import jobs as job_repo
from app.sync.schedule import add_months, first_of_month

RELOAD_JOB_KIND = "statistics_reload"


async def request_reload(
    session: AsyncSession,
    *,
    company_id: str,
    client_ids: list[str],
    all_clients: bool,
    months: int = 12,
    callback_url: str | None = None,
    reason: str = "requested",
    today: dt.date | None = None,
) -> tuple[Reload, Job]:
    """Record a reload of `months` months (ending with the current one) and its job.

    The caller commits and enqueues the job.
    """
    current = first_of_month(today or dt.date.today())
    job = await job_repo.create_job(
        session,
        kind=RELOAD_JOB_KIND,
        company_id=company_id,
        params={"months": months, "client_ids": client_ids, "all_clients": all_clients},
        callback_url=callback_url,
    )
    reload = Reload(
        id=uuid.uuid4(),
        company_id=company_id,
        job_id=job.id,
        months=months,
        month_from=add_months(current, -(months - 1)),
        month_to=current,
        all_clients=all_clients,
        callback_url=callback_url,
        reason=reason,
        clients_total=len(client_ids),
    )
    session.add(reload)
    await session.flush()
    for client_id in client_ids:
        session.add(ReloadClient(reload_id=reload.id, client_id=client_id))
    await session.flush()
    return reload, job
