"""The scheduled statistics reads created and done (`statistics_reads`): one row per company,
client, month and read kind, claimed by the job that reads it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, Date, String, Uuid, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from app.db.models import StatisticsRead, StatisticsReadRecord

ReadKey = tuple[str, str, dt.date, StatisticsRead]  # (company, client, month, read)


async def created_reads(session: AsyncSession, *, since: dt.date) -> set[ReadKey]:
    """Every company's reads of months from `since` on that a job was created for (one
    query, for the scheduler's tick over the whole fleet)."""
    rows = await session.execute(
        select(
            StatisticsReadRecord.company_id,
            StatisticsReadRecord.client_id,
            StatisticsReadRecord.month,
            StatisticsReadRecord.read_kind,
        ).where(StatisticsReadRecord.month >= since)
    )
    return {(company, client, month, read) for company, client, month, read in rows.all()}


@dataclass(frozen=True, slots=True)
class ReadClaim:
    """A client's `read` of `month`, to be claimed for `job_id`."""

    company_id: str
    client_id: str
    month: dt.date
    read: StatisticsRead
    connection_id: uuid.UUID | None
    job_id: uuid.UUID

    @property
    def key(self) -> ReadKey:
        return (self.company_id, self.client_id, self.month, self.read)


async def claim_reads(session: AsyncSession, claims: Iterable[ReadClaim]) -> set[ReadKey]:
    """Claim each read for its job; returns the reads claimed now. A read another job
    claimed (even in a transaction not yet committed: the insert waits for it) is left to
    that job.

    One INSERT whatever the number of reads (they travel as six arrays); rows are inserted
    in key order, so concurrent ticks wait for each other's claims in one order and never
    deadlock."""
    ordered = sorted({claim.key: claim for claim in claims}.values(), key=_claim_order)
    if not ordered:
        return set()
    # unnest yields the arrays' elements in order: the rows are inserted in key order.
    unnested = (
        func.unnest(
            _array([claim.company_id for claim in ordered], String),
            _array([claim.client_id for claim in ordered], String),
            _array([claim.month for claim in ordered], Date),
            _array([claim.read.value for claim in ordered], String),
            _array([claim.connection_id for claim in ordered], Uuid),
            _array([claim.job_id for claim in ordered], Uuid),
        )
        .table_valued(*_CLAIM_COLUMNS)
        .render_derived(name="claims")
    )
    statement = (
        insert(StatisticsReadRecord)
        .from_select(list(_CLAIM_COLUMNS), select(*(unnested.c[name] for name in _CLAIM_COLUMNS)))
        .on_conflict_do_nothing()
        .returning(
            StatisticsReadRecord.company_id,
            StatisticsReadRecord.client_id,
            StatisticsReadRecord.month,
            StatisticsReadRecord.read_kind,
        )
    )
    returned = await session.execute(statement)
    return {(company, client, month, read) for company, client, month, read in returned}


_CLAIM_COLUMNS = ("company_id", "client_id", "month", "read_kind", "connection_id", "job_id")


def _array(items: list[Any], item_type: type[TypeEngine[Any]]) -> Any:
    return literal(items, ARRAY(item_type))


def _claim_order(claim: ReadClaim) -> tuple[str, str, dt.date, str]:
    return (claim.company_id, claim.client_id, claim.month, claim.read.value)


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


async def release_unfinished(
    session: AsyncSession, job_id: uuid.UUID, *, client_ids: Iterable[str] | None = None
) -> int:
    """Forget the reads `job_id` claimed and did not complete (of `client_ids` only, when
    given), so a later tick creates them again; returns how many."""
    statement = delete(StatisticsReadRecord).where(
        StatisticsReadRecord.job_id == job_id, StatisticsReadRecord.completed_at.is_(None)
    )
    if client_ids is not None:
        statement = statement.where(StatisticsReadRecord.client_id.in_(list(client_ids)))
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
