"""Crash safety: a worker process SIGKILLed again and again during a reload.

Each worker is a real `directo-gateway worker` process. After each kill the test waits
until the dead run's heartbeat is stale and runs the watchdog (what the next worker's cron
does every 30 s), so the job runs again at once. At the end the reload must have
`succeeded`, the statistics must equal a clean run's, and every event must have reached the
webhook endpoint under one `webhook-id` each.
"""

from __future__ import annotations

import asyncio
import random
import signal

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.db.models import Event
from app.directo.sandbox import Faults, SandboxState
from app.resources import Resources
from app.webhooks.delivery import deliver_due
from app.worker.crons import watchdog
from tests.support.receiver import running_receiver
from tests.support.reloads import reload_all, snapshot
from tests.support.statistics import BASE, busiest_customers, set_up_company
from tests.support.waiting import wait_until
from tests.support.workers import no_live_runs, start_worker, worker_polling

KILLS = 10


@pytest.mark.slow
async def test_reload_survives_repeated_sigkills_and_ends_like_a_clean_run(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 24)
    await set_up_company(client, db, links={f"k-{n:02d}": code for n, code in enumerate(codes)})
    clean = await reload_all(client, db, months=6)
    assert clean["status"] == "succeeded"
    expected = await snapshot(db)

    async with db.sessionmaker() as session:
        before = await session.scalar(select(func.max(Event.sequence))) or 0
    async with running_receiver() as receiver:
        endpoint = await client.post(
            f"{BASE}/webhook-endpoints", json={"url": receiver.url("/hooks")}
        )
        assert endpoint.status_code == 201, endpoint.text
        # Slow Directo, so that kills land while clients are being read and written: a
        # reload reads a database in a few calls, and at 0.5 s a call it could end between
        # two kills (seen once in CI).
        sandbox.database("demo_ee").set_faults(Faults(latency_ms=1000))
        started = await client.post(f"{BASE}/directo/reloads", json={"months": 6})
        assert started.status_code == 202, started.text
        reload_id = started.json()["id"]

        chance = random.Random(7)
        kills_mid_reload = 0
        for _ in range(KILLS):
            worker = await start_worker(db)
            await asyncio.sleep(chance.uniform(1.5, 3.5))  # the kill's moment: chance, not a wait
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
            state = (await client.get(f"/v1/reloads/{reload_id}")).json()
            kills_mid_reload += state["status"] != "succeeded"
            # The dead run's heartbeat goes stale; the watchdog queues the job again.
            await wait_until(lambda: no_live_runs(db), what="the dead run's heartbeat to go stale")
            await watchdog({"resources": db})
        assert kills_mid_reload >= 3, "the reload finished before the kills could test it"

        sandbox.database("demo_ee").set_faults(Faults())
        # A live worker (not a burst one: a killed worker's half-run cron entries stay
        # queued until their in-progress marker expires, and a burst would wait for them).
        survivor = await start_worker(db)
        try:
            await wait_until(
                lambda: reload_finished(client, reload_id),
                what="the reload to finish",
                within=120,
                interval=0.5,
            )
        finally:
            survivor.send_signal(signal.SIGTERM)
            await survivor.wait()
        done = (await client.get(f"/v1/reloads/{reload_id}")).json()
        assert done["status"] == "succeeded", done
        assert done["progress"]["clients_done"] == 24
        assert await snapshot(db) == expected

        while await deliver_due(db):
            pass
        async with db.sessionmaker() as session:
            events = list(
                (await session.execute(select(Event).where(Event.sequence > before))).scalars()
            )
        received = [request.headers["webhook-id"] for request in receiver.requests]
        assert set(received) == {str(event.id) for event in events}
        completed = [event for event in events if event.type == "reload.completed"]
        assert len([e for e in completed if e.payload["reload_id"] == reload_id]) == 1


async def reload_finished(client: AsyncClient, reload_id: str) -> bool:
    state = (await client.get(f"/v1/reloads/{reload_id}")).json()
    return state["status"] not in {"queued", "running", "interrupted"}


@pytest.mark.slow
async def test_worker_stops_cleanly_on_sigterm(db: Resources) -> None:
    """Deployments stop workers with SIGTERM: the process must end, not keep polling."""
    worker = await start_worker(db)
    await wait_until(lambda: worker_polling(db), what="the worker to start polling")
    worker.send_signal(signal.SIGTERM)
    async with asyncio.timeout(20):
        code = await worker.wait()
    assert code == 0
