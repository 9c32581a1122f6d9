"""The Directo budget across real worker processes: two workers running many jobs against
one Directo connection never have more than the cap of calls in flight (counted by the
sandbox), and a SIGKILLed worker's slots come back once their lease expires."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import select

from app.budget.leases import LeaseSet
from app.db.models import Job, JobStatus
from app.directo.budget import budget_key
from app.directo.credentials import DirectoCredentials
from app.directo.sandbox import Faults, SandboxState
from app.resources import Resources
from tests.support.waiting import wait_until
from tests.support.workers import start_worker

TOKEN = "sandbox-token-ee"  # every company below connects the same Directo database


async def connect_companies(client: AsyncClient, count: int) -> list[uuid.UUID]:
    """`count` companies on the same token; returns their queued customer imports."""
    imports = []
    for n in range(count):
        base = f"/v1/companies/budget-firm-{n:02d}/directo"
        assert (await client.put(base, json={})).status_code in (200, 201)
        connected = await client.put(f"{base}/connection", json={"token": TOKEN})
        assert connected.status_code == 201, connected.text
        imports.append(uuid.UUID(connected.json()["import_job"]["id"]))
    return imports


async def statuses(db: Resources, job_ids: list[uuid.UUID]) -> list[JobStatus]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(select(Job.status).where(Job.id.in_(job_ids)))
        return list(rows)


async def stop(workers: list[Process]) -> None:
    for worker in workers:
        if worker.returncode is None:
            worker.terminate()
    for worker in workers:
        await worker.wait()


@pytest.fixture
async def leases(db: Resources) -> AsyncIterator[LeaseSet]:
    redis = Redis.from_url(db.settings.redis.url)
    try:
        yield LeaseSet(redis, queue_name=db.settings.redis.queue_name)
    finally:
        await redis.aclose()


def connection_key(db: Resources) -> str:
    creds = DirectoCredentials(TOKEN)
    return budget_key(db.directo.endpoint(creds), TOKEN)


@pytest.mark.slow
async def test_two_workers_keep_one_connection_within_its_cap(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    imports = await connect_companies(client, 16)
    sandbox.database("demo_ee").set_faults(Faults(latency_ms=300))
    sandbox.calls.clear()
    workers = [await start_worker(db) for _ in range(2)]
    try:

        async def all_succeeded() -> bool:
            return await statuses(db, imports) == [JobStatus.SUCCEEDED] * len(imports)

        await wait_until(all_succeeded, what="every import succeeded", within=120, interval=0.2)
    finally:
        await stop(workers)

    directo = db.settings.directo
    peak = sandbox.max_concurrent_calls(TOKEN)
    # 16 jobs on 2 workers (200 job slots each) would have 16 calls in flight unbounded.
    # Bulk reads only: the cap less the slot reserved for interactive work.
    assert 2 <= peak <= directo.max_concurrency_per_connection - directo.interactive_reserved_slots
    assert peak <= directo.max_concurrency_per_connection


@pytest.mark.slow
async def test_a_killed_workers_slots_come_back_after_the_lease(
    client: AsyncClient, db: Resources, sandbox: SandboxState, leases: LeaseSet
) -> None:
    lease_seconds = 1.5
    await connect_companies(client, 1)
    sandbox.database("demo_ee").set_faults(Faults(latency_ms=60_000))  # a read that hangs
    key = connection_key(db)
    worker = await start_worker(db, GATEWAY_DIRECTO__BUDGET_LEASE_SECONDS=str(lease_seconds))
    try:
        await wait_until(
            lambda: leases.held(key),
            what="the worker holds a slot while its read hangs",
            within=60,
        )
        # Renewed while the worker lives: still held after two lease times.
        until = time.monotonic() + 2 * lease_seconds
        while time.monotonic() < until:
            assert await leases.held(key) == 1
            await asyncio.sleep(0.1)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()

        async def no_slot_held() -> bool:
            return await leases.held(key) == 0

        await wait_until(no_slot_held, what="the dead worker's slot expired", within=10)
    finally:
        await stop([worker])
