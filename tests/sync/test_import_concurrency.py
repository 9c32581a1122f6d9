"""Two imports of one connection at once (customers and articles) both succeed.

Each holds a key-share lock on the connection row through the rows it inserts; the
health report at the end must not ask for a lock that conflicts with those, or the two
imports deadlock and one fails."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.support.helpers import run_worker_burst

BASE = "/v1/companies/concurrent-firm/directo"


@pytest.mark.slow
async def test_customers_and_articles_import_together(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await client.put(BASE, json={})
    connected = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert connected.status_code == 201, connected.text
    jobs = [connected.json()["import_job"]["id"]]
    articles = await client.post(f"{BASE}/imports", json={"feed": "articles"})
    jobs.append(articles.json()["id"])
    await run_worker_burst(db.settings)
    for _ in range(3):  # again, full, both at once
        for feed in ("customers", "articles"):
            started = await client.post(f"{BASE}/imports", json={"feed": feed, "full": True})
            jobs.append(started.json()["id"])
        await run_worker_burst(db.settings)
    statuses = [(await client.get(f"/v1/jobs/{job}")).json() for job in jobs]
    assert [job["status"] for job in statuses] == ["succeeded"] * len(jobs), statuses
