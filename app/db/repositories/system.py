"""Liveness queries and the secret-holding rows that key rotation re-seals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, text, union
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.models import CallbackSecret, Connection, WebhookEndpoint


async def database_now(session: AsyncSession) -> dt.datetime:
    now: dt.datetime = (await session.execute(text("SELECT now()"))).scalar_one()
    return now


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


SecretRow = Connection | WebhookEndpoint | CallbackSecret


async def rows_sealed_with_other_keys(
    session: AsyncSession, primary_key_id: str
) -> list[SecretRow]:
    """Every row holding a secret sealed under a key other than `primary_key_id`, locked."""
    rows: list[Any] = []
    rows += await session.scalars(
        select(Connection).where(Connection.token_key_id != primary_key_id).with_for_update()
    )
    rows += await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.secret_key_id != primary_key_id)
        .with_for_update()
    )
    rows += await session.scalars(
        select(CallbackSecret)
        .where(CallbackSecret.secret_key_id != primary_key_id)
        .with_for_update()
    )
    return rows


async def stored_key_ids(session: AsyncSession) -> set[str]:
    """The distinct encryption key ids under which any secret is stored (one cheap query)."""
    statement = union(
        select(Connection.token_key_id),
        select(WebhookEndpoint.secret_key_id),
        select(CallbackSecret.secret_key_id),
    )
    return set((await session.execute(statement)).scalars())
