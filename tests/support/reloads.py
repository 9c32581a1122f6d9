"""Reloads: a snapshot of the stored statistics, and a reload run to its end via the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from httpx import AsyncClient
from sqlalchemy import select

from app.db.models import MonthlyStatistic
from app.resources import Resources
from tests.support.helpers import run_worker_burst
from tests.support.statistics import BASE

Snapshot = dict[tuple[str, dt.date, str], Decimal]


async def snapshot(db: Resources) -> Snapshot:
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(MonthlyStatistic))).scalars()
        return {(row.client_id, row.month, row.field_key): row.value for row in rows}


async def reload_all(client: AsyncClient, db: Resources, months: int = 6) -> dict[str, object]:
    started = await client.post(f"{BASE}/directo/reloads", json={"months": months})
    assert started.status_code == 202, started.text
    await run_worker_burst(db.settings)
    return dict((await client.get(f"/v1/reloads/{started.json()['id']}")).json())
