"""Reloads and scheduled statistics under Directo faults: 5xx bursts, truncated bodies,
dropped connections, latency spikes — every job ends in an honest state, retries are
bounded, and no client's months are ever half written."""

from __future__ import annotations

from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.db.models import MonthlyStatistic
from app.directo.sandbox import Faults, SandboxState
from app.resources import Resources
from tests.support.reloads import reload_all, snapshot
from tests.support.statistics import busiest_customers, set_up_company


@pytest.mark.slow
async def test_faults_leave_each_client_all_or_nothing(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 8)
    await set_up_company(client, db, links={f"f-{n}": code for n, code in enumerate(codes)})
    clean = await reload_all(client, db)
    assert clean["status"] == "succeeded"
    expected = await snapshot(db)
    assert len({key[0] for key in expected}) == 8

    # Stale values the faulted reload must either replace exactly or leave alone.
    async with db.sessionmaker() as session, session.begin():
        for row in (await session.execute(select(MonthlyStatistic))).scalars():
            row.value = Decimal(-1)
    before = await snapshot(db)

    sandbox.database("demo_ee").set_faults(
        Faults(latency_ms=20, error_rate=0.35, truncate_rate=0.15, drop_rate=0.15, seed=11)
    )
    sandbox.clear_requests()
    faulted = await reload_all(client, db)
    sandbox.database("demo_ee").set_faults(Faults())

    assert faulted["status"] in {"succeeded", "partially_failed", "failed"}
    clients = {row["client_id"]: row for row in faulted["clients"]}  # type: ignore[attr-defined]
    after = await snapshot(db)
    for client_id, row in clients.items():
        mine = {key: value for key, value in after.items() if key[0] == client_id}
        if row["status"] == "succeeded":
            assert mine == {k: v for k, v in expected.items() if k[0] == client_id}
        else:
            assert row["error"]["code"] in {
                "directo_unavailable",
                "truncated_response",
                "timeout",
            }, row
            assert mine == {k: v for k, v in before.items() if k[0] == client_id}
    failed = sum(1 for row in clients.values() if row["status"] == "failed")
    progress = faulted["progress"]
    assert progress == {  # type: ignore[comparison-overlap]
        "clients_total": 8,
        "clients_done": 8 - failed,
        "clients_failed": failed,
    }
    # Bounded retries: at most max_attempts calls per feed per client.
    calls = [entry for entry in sandbox.requests if entry.op == "get"]
    assert len(calls) <= 8 * 2 * db.settings.directo.max_attempts
    assert any(entry.outcome.startswith("fault") or "fault" in entry.outcome for entry in calls)

    # A later clean reload repairs what the faults left behind.
    repaired = await reload_all(client, db)
    assert repaired["status"] == "succeeded"
    assert await snapshot(db) == expected


@pytest.mark.slow
async def test_directo_down_for_the_whole_reload_fails_it_honestly(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 3)
    await set_up_company(client, db, links={f"d-{n}": code for n, code in enumerate(codes)})
    sandbox.database("demo_ee").set_faults(Faults(error_rate=1.0))
    sandbox.clear_requests()
    done = await reload_all(client, db, months=2)
    assert done["status"] == "failed"
    assert done["progress"] == {"clients_total": 3, "clients_done": 0, "clients_failed": 3}
    assert await snapshot(db) == {}
    calls = [entry for entry in sandbox.requests if entry.op == "get"]
    # The clients share one read of the database: its first failing feed used every
    # attempt (then its other feed stopped).
    attempts = db.settings.directo.max_attempts
    assert attempts <= len(calls) <= 2 * attempts
