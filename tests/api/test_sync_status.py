"""Sync status through the API and a real worker: per feed of a connection, its runs,
watermark, records held, next run and staleness."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.support.reloads import reload_all
from tests.support.statistics import BASE, COMPANY, busiest_customers, set_up_company


def _feeds(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {feed["feed"]: feed for feed in body["feeds"]}


@pytest.mark.slow
async def test_a_fresh_connection_is_not_stale_and_shows_what_it_holds(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={"c-1": busiest_customers(sandbox, 1)[0]})
    await reload_all(client, db, months=3)
    jobs = (await client.get(f"/v1/jobs?company_id={COMPANY}")).json()["items"]
    customers_job = next(job for job in jobs if job["kind"] == "customers_import")

    response = await client.get(f"{BASE}/directo/sync-status")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["client_id"] is None
    feeds = _feeds(body)
    assert list(feeds) == ["customers", "articles", "payments", "statistics"]
    customers = feeds["customers"]
    assert customers["last_success"]["job_id"] == customers_job["id"]
    assert customers["last_failure"] is None
    assert customers["records_held"] == customers_job["counts"]["read"]
    assert customers["watermark"] is not None
    assert (customers["scheduled"], customers["stale"], customers["stale_since"]) == (
        True,
        False,
        None,
    )
    assert customers["next_run_at"] > body["checked_at"]
    articles = feeds["articles"]
    assert (articles["last_success"], articles["records_held"], articles["stale"]) == (
        None,
        0,
        False,
    )  # never imported, but the connection is new
    payments = feeds["payments"]
    assert (payments["scheduled"], payments["next_run_at"], payments["stale"]) == (
        False,
        None,
        False,
    )  # nothing exported: nothing to poll
    statistics = feeds["statistics"]
    assert statistics["scheduled"] is True
    assert statistics["last_success"]["status"] == "succeeded"
    assert statistics["records_held"] > 0
    assert statistics["watermark"] is not None
    assert statistics["next_run_at"] is not None


@pytest.mark.slow
async def test_a_feed_past_its_schedule_is_stale_since_it_was_due(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={})
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE jobs SET finished_at = :t"), {"t": long_ago})
        await connection.execute(
            text("UPDATE sync_watermarks SET last_run_at = :t"), {"t": long_ago}
        )
        await connection.execute(text("UPDATE connections SET created_at = :t"), {"t": long_ago})

    feeds = _feeds((await client.get(f"{BASE}/directo/sync-status")).json())
    interval = dt.timedelta(hours=db.settings.sync.catalogue_refresh_hours)
    for name in ("customers", "articles"):
        assert feeds[name]["stale"] is True, name
        stale_since = dt.datetime.fromisoformat(feeds[name]["stale_since"])
        assert stale_since == long_ago + 2 * interval
    assert feeds["customers"]["stale_rule"] == "no successful import for 2 refresh intervals (12 h)"


@pytest.mark.slow
async def test_a_clients_own_connection_and_another_companys_answers(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={})
    own = await client.put(
        f"{BASE}/clients/own-1/directo/connection", json={"token": "sandbox-token-lv"}
    )
    assert own.status_code == 201, own.text

    status = await client.get(f"{BASE}/clients/own-1/directo/sync-status")
    assert status.status_code == 200, status.text
    assert status.json()["connection_id"] == own.json()["connection"]["id"]
    assert status.json()["client_id"] == "own-1"
    missing = await client.get(f"{BASE}/clients/no-such/directo/sync-status")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    other = await client.get("/v1/companies/other-firm/directo/sync-status")
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
