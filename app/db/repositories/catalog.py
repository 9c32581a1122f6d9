"""Imported Directo customers and articles, and the per-feed watermarks.

`upsert_batch` writes a batch in one statement and touches only rows whose content
changed (or that come back after being missing): an import of unchanged data writes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ARRAY, Text, all_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DirectoArticle, DirectoCustomer, SyncWatermark

CatalogModel = type[DirectoCustomer] | type[DirectoArticle]


async def upsert_batch(
    session: AsyncSession, model: CatalogModel, rows: list[dict[str, Any]]
) -> tuple[int, int]:
    """Insert new and update changed records; returns (inserted, updated).

    Unchanged rows (same content hash, not marked missing) are left alone, so they cost
    no write. Rows are dicts of column values keyed by (connection_id, code).
    """
    if not rows:
        return 0, 0
    values = insert(model).values(rows)
    excluded = values.excluded
    changing = [name for name in rows[0] if name not in ("connection_id", "code")]
    # `xmax = 0` tells a freshly inserted row from an updated one.
    statement: Any = values.on_conflict_do_update(
        index_elements=[model.connection_id, model.code],
        set_={
            **{name: excluded[name] for name in changing},
            "missing_since": None,
            "updated_at": func.now(),
        },
        where=or_(
            model.content_hash.is_distinct_from(excluded.content_hash),
            model.missing_since.is_not(None),
        ),
    ).returning(literal_column("xmax = 0").label("inserted"))
    flags = list((await session.execute(statement)).scalars())
    inserted = sum(1 for flag in flags if flag)
    return inserted, len(flags) - inserted


async def mark_missing(
    session: AsyncSession,
    model: CatalogModel,
    connection_id: uuid.UUID,
    *,
    seen: list[str],
    at: dt.datetime,
) -> int:
    """After a complete full import: flag (never delete) records Directo no longer has."""
    outcome = await session.execute(
        update(model)
        .where(
            model.connection_id == connection_id,
            model.missing_since.is_(None),
            # One array parameter, not one bind per code: a feed can hold 400k codes.
            model.code != all_(bindparam("seen", value=seen, type_=ARRAY(Text))),
        )
        .values(missing_since=at)
    )
    return int(outcome.rowcount)  # type: ignore[attr-defined]


async def get_watermark(
    session: AsyncSession, connection_id: uuid.UUID, feed: str
) -> SyncWatermark | None:
    return await session.get(SyncWatermark, (connection_id, feed))


async def save_watermark(
    session: AsyncSession,
    connection_id: uuid.UUID,
    feed: str,
    *,
    watermark: dt.datetime | None,
    full: bool,
    at: dt.datetime,
) -> None:
    values: dict[str, Any] = {"watermark_ts": watermark, "last_run_at": at}
    if full:
        values["last_full_at"] = at
    statement = insert(SyncWatermark).values(connection_id=connection_id, feed=feed, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[SyncWatermark.connection_id, SyncWatermark.feed], set_=values
        )
    )


async def codes_of(
    session: AsyncSession, model: CatalogModel, connection_id: uuid.UUID
) -> set[str]:
    table = model.__table__
    return set(
        (
            await session.execute(
                select(table.c.code).where(table.c.connection_id == connection_id)
            )
        ).scalars()
    )
