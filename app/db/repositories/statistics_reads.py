"""The scheduled statistics reads created and done (`statistics_reads`): one row per company,
client, month and read kind, claimed by the job that reads it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import StatisticsRead, StatisticsReadRecord

ReadKey = tuple[str, dt.date, StatisticsRead]  # (client id, month, read)


async def created_reads(session: AsyncSession, company_id: str, *, since: dt.date) -> set[ReadKey]:
    """The company's reads of months from `since` on that a job was created for."""
    rows = await session.execute(
        select(
            StatisticsReadRecord.client_id,
            StatisticsReadRecord.month,
            StatisticsReadRecord.read_kind,
        ).where(StatisticsReadRecord.company_id == company_id, StatisticsReadRecord.month >= since)
    )
    return {(client_id, month, read) for client_id, month, read in rows.all()}


async def claim_reads(
    session: AsyncSession,
    *,
    company_id: str,
    month: dt.date,
    read: StatisticsRead,
    client_ids: Iterable[str],
    job_id: uuid.UUID,
    connection_id: uuid.UUID | None,
) -> set[str]:
    """Claim the clients' `read` of `month` for the job; returns the clients claimed now.

    A read another job claimed (even in a transaction not yet committed: the insert waits
    for it) is left to that job.
    """
    values = [
        {
            "company_id": company_id,
            "client_id": client_id,
            "month": month,
            "read_kind": read,
            "connection_id": connection_id,
            "job_id": job_id,
        }
        for client_id in client_ids
    ]
    if not values:
        return set()
    statement = (
        insert(StatisticsReadRecord)
        .values(values)
        .on_conflict_do_nothing()
        .returning(StatisticsReadRecord.client_id)
    )
    return set((await session.execute(statement)).scalars())


async def complete_reads(
    session: AsyncSession,
    *,
    company_id: str,
    month: dt.date,
    read: StatisticsRead,
    client_ids: Iterable[str],
    job_id: uuid.UUID,
    connection_id: uuid.UUID | None,
) -> None:
    """Record the clients' `read` of `month` as done by the job (claiming it if no row
    exists yet, as for a job created before reads were recorded)."""
    values = [
        {
            "company_id": company_id,
            "client_id": client_id,
            "month": month,
            "read_kind": read,
            "connection_id": connection_id,
            "job_id": job_id,
            "completed_at": func.now(),
        }
        for client_id in client_ids
    ]
    if not values:
        return
    statement = insert(StatisticsReadRecord).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["company_id", "client_id", "month", "read_kind"],
            set_={"job_id": job_id, "completed_at": statement.excluded.completed_at},
        )
    )
