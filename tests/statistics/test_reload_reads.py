"""Reloads read each Directo database once for all its clients — counted by the sandbox's
request log, through the API and a real worker — and store what per-client reads store."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from app.config import Settings
from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.support.helpers import run_worker_burst
from tests.support.reloads import snapshot
from tests.support.statistics import BASE, busiest_customers, set_up_company


def _gets(sandbox: SandboxState, database: str) -> list[dict[str, str]]:
    """The statistics feeds' reads of `database` (a catalogue refresh the worker's crons
    may run meanwhile reads customers)."""
    statistics = {"invoice", "receipt", "purchase", "transaction"}
    return [
        entry.params
        for entry in sandbox.requests
        if entry.op == "get" and entry.database == database and entry.what in statistics
    ]


def _per_code_settings(settings: Settings) -> Settings:
    """The same settings, but every database read per customer code (each client its own
    read, as before the planner)."""
    directo = settings.directo.model_copy(update={"statistics_per_code_reads_up_to": 10_000})
    return settings.model_copy(update={"directo": directo})


async def _reload(client: AsyncClient, settings: Settings, months: int) -> dict[str, object]:
    started = await client.post(f"{BASE}/directo/reloads", json={"months": months})
    assert started.status_code == 202, started.text
    await run_worker_burst(settings)
    return dict((await client.get(f"/v1/reloads/{started.json()['id']}")).json())


@pytest.mark.slow  # 200 links through the API, then a 400-call per-client reload
async def test_twelve_month_reload_of_200_linked_clients_reads_the_database_once(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 200)
    await set_up_company(client, db, links={f"firm-{n:03d}": code for n, code in enumerate(codes)})
    own = await client.put(
        f"{BASE}/clients/own-lv/directo/connection", json={"token": "sandbox-token-lv"}
    )
    assert own.status_code == 201, own.text
    await run_worker_burst(db.settings)

    sandbox.clear_requests()
    shared = await _reload(client, db.settings, 12)
    assert shared["status"] == "succeeded", shared
    assert shared["progress"] == {"clients_total": 201, "clients_done": 201, "clients_failed": 0}
    company_reads = _gets(sandbox, "demo_ee")
    assert len(company_reads) <= 30
    assert len(company_reads) == 8  # 2 feeds × 4 quarters
    assert all("customercode" not in params for params in company_reads)
    assert len(_gets(sandbox, "demo_lv")) == 4  # the own database: each feed once, whole
    stored = await snapshot(db)
    assert len({client_id for client_id, _, _ in stored}) == 201

    # The same reload read client by client (400 calls) stores exactly the same values.
    sandbox.clear_requests()
    alone = await _reload(client, _per_code_settings(db.settings), 12)
    assert alone["status"] == "succeeded", alone
    per_client = _gets(sandbox, "demo_ee")
    assert len(per_client) == 400, [p for p in per_client if "customercode" not in p]
    assert await snapshot(db) == stored


async def test_one_linked_client_keeps_its_two_filtered_calls(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    (code,) = busiest_customers(sandbox, 1)
    await set_up_company(client, db, links={"solo": code})
    sandbox.clear_requests()
    done = await _reload(client, db.settings, 12)
    assert done["status"] == "succeeded", done
    calls = _gets(sandbox, "demo_ee")
    assert sorted(params["what"] for params in calls) == ["invoice", "receipt"]
    assert all(params["customercode"] == code for params in calls)
    assert len({(params["date1"], params["date2"]) for params in calls}) == 1
