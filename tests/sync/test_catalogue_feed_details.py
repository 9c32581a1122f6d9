"""Feed details through the customer and article imports (a real worker, the sandbox): a
record without a code is a counted error, timestamps with and without a zone offset are one
kind, and child records the model does not type are stored in `raw`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.db.models import DirectoArticle, DirectoCustomer, SyncWatermark
from app.directo.sandbox import SandboxState
from app.directo.values import DIRECTO_TIME
from app.resources import Resources
from tests.support.helpers import run_worker_burst

COMPANY = "firm-details"
BASE = f"/v1/companies/{COMPANY}/directo"


async def connect(client: AsyncClient, db: Resources) -> None:
    """Enable, connect demo_ee, and run the first customer import to the end."""
    assert (await client.put(BASE, json={})).status_code in {200, 201}
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert response.status_code == 201, response.text
    await run_worker_burst(db.settings)
    job = (await client.get(f"/v1/jobs/{response.json()['import_job']['id']}")).json()
    assert job["status"] == "succeeded", job


async def run_import(client: AsyncClient, db: Resources, feed: str) -> dict[str, Any]:
    response = await client.post(f"{BASE}/imports", json={"feed": feed})
    assert response.status_code == 202, response.text
    await run_worker_burst(db.settings)
    return dict((await client.get(f"/v1/jobs/{response.json()['id']}")).json())


@pytest.mark.slow
async def test_a_record_without_a_code_is_a_counted_error_never_an_empty_code(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connect(client, db)
    ee = sandbox.database("demo_ee")
    ee.upsert_customer("K000004", {"name": "Muudetud OÜ"})
    for name in ("Koodita OÜ", "Teine Koodita AS"):
        ee.upsert_customer(name, {"code": "", "name": name})
    job = await run_import(client, db, "customers")
    assert job["status"] == "partially_failed", job
    counts = job["counts"]
    # Besides the three changed records, the overlap re-reads the newest seeded one(s).
    assert (counts["added"], counts["updated"], counts["without_code"]) == (0, 1, 2)
    assert counts["read"] - counts["unchanged"] == 3
    assert [(error["code"], error["name"]) for error in job["errors"]] == [
        ("record_without_code", "Koodita OÜ"),
        ("record_without_code", "Teine Koodita AS"),
    ]
    assert all(error["directo_ts"] for error in job["errors"])
    async with db.sessionmaker() as session:
        empty = (
            await session.execute(select(DirectoCustomer).where(DirectoCustomer.code == ""))
        ).all()
        changed = await session.scalar(
            select(DirectoCustomer.name).where(DirectoCustomer.code == "K000004")
        )
    assert (empty, changed) == ([], "Muudetud OÜ")


@pytest.mark.slow
async def test_timestamps_with_and_without_an_offset_import_as_directos_local_time(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connect(client, db)
    ee = sandbox.database("demo_ee")
    # After every seeded stamp, so the incremental read picks them up; one in UTC ...
    later = dt.datetime.combine(ee.today, dt.time(23, 0), tzinfo=DIRECTO_TIME)
    in_utc = (later + dt.timedelta(days=1)).astimezone(dt.UTC)
    ee.upsert_customer("K000011", {"name": "Offset OÜ"}, ts=in_utc.isoformat())
    # ... and one as Directo usually writes them: its local time, no offset.
    ee.upsert_customer("K000012", {"name": "Kohalik OÜ"})
    job = await run_import(client, db, "customers")
    assert job["status"] == "succeeded", job
    assert (job["counts"]["added"], job["counts"]["updated"]) == (0, 2)
    async with db.sessionmaker() as session:
        stamps = dict(
            (
                await session.execute(
                    select(DirectoCustomer.code, DirectoCustomer.directo_ts).where(
                        DirectoCustomer.code.in_(["K000011", "K000012"])
                    )
                )
            ).all()
        )
        mark = await session.scalar(select(SyncWatermark).where(SyncWatermark.feed == "customers"))
    local = in_utc.astimezone(DIRECTO_TIME).replace(tzinfo=None)
    assert stamps["K000011"] == local
    assert stamps["K000012"] is not None
    assert stamps["K000012"] < local
    assert mark is not None
    assert mark.watermark_ts == local  # the newest, compared as one kind
    again = await run_import(client, db, "customers")  # reads from that watermark
    assert again["status"] == "succeeded", again
    # The overlap reaches back an hour from the watermark: only the offset one is there.
    assert (again["counts"]["read"], again["counts"]["updated"]) == (1, 0)


@pytest.mark.slow
async def test_supplieritems_are_stored_in_the_articles_raw(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connect(client, db)
    suppliers = [
        {"supplier": "H0007", "supplieritem": "KONS-7", "name": "Konsultatsioon", "sales": "1"},
        {"supplier": "H0009", "supplieritem": "K9"},
    ]
    sandbox.database("demo_ee").upsert_item("KONS", {"name": "Nõustamine"}, supplieritems=suppliers)
    job = await run_import(client, db, "articles")
    assert job["status"] == "succeeded", job
    async with db.sessionmaker() as session:
        raws = dict((await session.execute(select(DirectoArticle.code, DirectoArticle.raw))).all())
    assert raws["KONS"]["supplieritems"] == suppliers
    assert raws["KONS"]["name"] == "Nõustamine"
    assert "supplieritems" not in raws["RAAMAT"]  # an empty <supplieritems/> adds nothing
