"""Migrations are static, reversible, and match the models (no drift)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.admin import alembic_config, drop_database, ensure_database
from app.db.base import Base
from tests.conftest import POSTGRES_URL


@pytest.fixture
async def scratch_url() -> AsyncIterator[str]:
    url = f"{POSTGRES_URL}/gw_migrations_{uuid.uuid4().hex[:10]}"
    await ensure_database(url)
    yield url
    await drop_database(url)


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {row[0] for row in rows} - {"alembic_version"}
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_upgrade_downgrade_upgrade_then_no_drift(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    expected = set(Base.metadata.tables)

    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _tables(scratch_url) == expected

    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _tables(scratch_url) == set()

    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _tables(scratch_url) == expected

    # `alembic check` raises if autogenerate would emit any operation.
    await asyncio.to_thread(command.check, config)
