"""Summary settings and monthly statistics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import SummarySettings


async def get_summary_settings(session: AsyncSession, company_id: str) -> SummarySettings | None:
    return await session.get(SummarySettings, company_id)


async def upsert_summary_settings(
    session: AsyncSession, company_id: str, values: dict[str, Any]
) -> SummarySettings:
    statement = (
        insert(SummarySettings)
        .values(company_id=company_id, **values)
        .on_conflict_do_update(
            index_elements=[SummarySettings.company_id], set_={**values, "updated_at": func.now()}
        )
        .returning(SummarySettings)
    )
    result = await session.execute(statement.execution_options(populate_existing=True))
    return result.scalar_one()


async def all_summary_settings(session: AsyncSession) -> list[SummarySettings]:
    return list((await session.execute(select(SummarySettings))).scalars())
