"""The Directo call log: batched inserts, a job's calls page by page, and pruning."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DirectoCall


async def insert_calls(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert buffered calls in one statement per ~1000 rows (SQLAlchemy's batched
    `insertmanyvalues`), never one round trip per call. A row already stored (a flush whose
    commit landed but whose answer was lost, then retried) is skipped, not an error."""
    if rows:
        statement = pg_insert(DirectoCall).on_conflict_do_nothing(index_elements=["id"])
        await session.execute(statement, list(rows))


async def calls_of_job(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[DirectoCall]:
    """The job's calls in the order they ended; `after` is the (created_at, id) of the
    last row of the previous page."""
    statement = (
        select(DirectoCall)
        .where(DirectoCall.job_id == job_id)
        .order_by(DirectoCall.created_at, DirectoCall.id)
        .limit(limit)
    )
    if after is not None:
        created_at, call_id = after
        statement = statement.where(
            or_(
                DirectoCall.created_at > created_at,
                and_(DirectoCall.created_at == created_at, DirectoCall.id > call_id),
            )
        )
    return list((await session.execute(statement)).scalars())


async def prune_batch(session: AsyncSession, *, before: dt.datetime, batch: int) -> int:
    """Delete up to `batch` calls older than `before` (oldest first); returns how many."""
    oldest = (
        select(DirectoCall.id)
        .where(DirectoCall.created_at < before)
        .order_by(DirectoCall.created_at)
        .limit(batch)
    )
    result = await session.execute(delete(DirectoCall).where(DirectoCall.id.in_(oldest)))
    return int(result.rowcount)  # type: ignore[attr-defined]
