"""`RedisBudget` on the real Redis, and the Directo client holding its slots against the
sandbox: waiters wake when a slot comes back, a cancelled waiter leaves nothing behind,
leases are renewed while held, and a put goes ahead of bulk reads."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from structlog.testing import capture_logs

from app.budget.directo import RedisBudget, open_budget
from app.config import Settings
from app.directo.budget import Priority
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.sandbox import Faults, SandboxState
from app.directo.sandbox.state import token_fingerprint
from tests.support.waiting import wait_until

TOKEN = "sandbox-token-ee"

BudgetFactory = Callable[..., RedisBudget]


@pytest.fixture
async def make_budget(settings: Settings) -> AsyncIterator[BudgetFactory]:
    """Budgets on the session's Redis and queue, with the given Directo settings."""
    opened: list[RedisBudget] = []

    def make(**directo: object) -> RedisBudget:
        budget = open_budget(settings.redis, settings.directo.model_copy(update=directo))
        opened.append(budget)
        return budget

    yield make
    for budget in opened:
        await budget.close()


def new_key() -> str:
    return uuid.uuid4().hex


async def test_a_waiter_gets_the_slot_as_soon_as_it_is_given_back(
    make_budget: BudgetFactory,
) -> None:
    budget = make_budget(max_concurrency_per_connection=1)
    key = new_key()
    held = await budget.acquire(key, priority=Priority.BULK)
    waiter = asyncio.create_task(budget.acquire(key, priority=Priority.BULK))
    await wait_until(lambda: budget.leases.held(key), what="the first lease is held")
    assert not waiter.done()

    await held.release()
    lease = await asyncio.wait_for(waiter, timeout=10)
    assert await budget.leases.held(key) == 1
    await lease.release()
    assert await budget.leases.held(key) == 0


async def test_a_cancelled_interactive_waiter_leaves_nothing_behind(
    make_budget: BudgetFactory, settings: Settings
) -> None:
    budget = make_budget(max_concurrency_per_connection=1)
    key = new_key()
    held = await budget.acquire(key, priority=Priority.BULK)
    waiting_key = f"{settings.redis.queue_name}:directo-budget:{key}:waiting"
    waiter = asyncio.create_task(budget.acquire(key, priority=Priority.INTERACTIVE))
    await wait_until(
        lambda: budget.leases.redis.zcard(waiting_key), what="the interactive caller waits"
    )
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    assert await budget.leases.redis.zcard(waiting_key) == 0

    await held.release()
    bulk = await asyncio.wait_for(budget.acquire(key, priority=Priority.BULK), timeout=5)
    await bulk.release()


async def test_a_held_lease_is_renewed_past_its_lease_time(make_budget: BudgetFactory) -> None:
    budget = make_budget(max_concurrency_per_connection=1, budget_lease_seconds=0.3)
    key = new_key()
    lease = await budget.acquire(key, priority=Priority.BULK)
    until = time.monotonic() + 1.5  # five lease times: only renewal keeps it
    while time.monotonic() < until:
        assert await budget.leases.held(key) == 1
        await asyncio.sleep(0.05)
    await lease.release()
    assert await budget.leases.held(key) == 0


async def test_a_put_goes_ahead_of_queued_bulk_reads(
    make_budget: BudgetFactory, settings: Settings, sandbox: SandboxState
) -> None:
    budget = make_budget(max_concurrency_per_connection=4, interactive_reserved_slots=1)
    sandbox.database("demo_ee").set_faults(Faults(latency_ms=400))
    sandbox.clear_requests()
    fingerprint = token_fingerprint(TOKEN)
    creds = DirectoCredentials(TOKEN)
    bulk_reads = 9
    async with httpx.AsyncClient() as http:
        directo = DirectoClient(http, settings.directo, budget=budget)

        async def read_customers() -> None:
            async with contextlib.aclosing(directo.iter_customers(creds)) as batches:
                async for _ in batches:
                    pass

        readers = [asyncio.create_task(read_customers()) for _ in range(bulk_reads)]
        await wait_until(
            lambda: sandbox.calls.as_json().get(fingerprint, {}).get("in_flight") == 3,
            what="bulk reads fill every slot but the reserved one",
        )
        results = await directo.put_invoices(creds, [])  # Directo's empty put: Type 99
        await asyncio.gather(*readers)

    assert len(results) == 1
    log = [entry.op for entry in sandbox.requests]
    assert sorted(log) == ["get"] * bulk_reads + ["put"]
    # The put was sent while at least two rounds of bulk reads still waited for slots.
    assert log.index("put") <= bulk_reads - 3, log
    # Bulk reads never took the reserved slot; with the put, at most the cap was in flight.
    assert sandbox.calls.max_in_flight(fingerprint) <= 4


async def test_with_redis_down_the_cap_holds_per_process_and_redis_is_tried_once_a_while(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = settings.redis.model_copy(update={"url": "redis://127.0.0.1:1/0"})
    budget = open_budget(
        refused, settings.directo.model_copy(update={"max_concurrency_per_connection": 2})
    )
    tries = 0
    try_acquire = budget.leases.try_acquire

    async def counted(*args: object, **kwargs: object) -> bool:
        nonlocal tries
        tries += 1
        return await try_acquire(*args, **kwargs)  # type: ignore[arg-type]

    budget.leases.try_acquire = counted  # type: ignore[method-assign]
    key = new_key()
    try:
        with capture_logs() as logged:
            first = await budget.acquire(key, priority=Priority.BULK)
            second = await budget.acquire(key, priority=Priority.INTERACTIVE)
            third = asyncio.create_task(budget.acquire(key, priority=Priority.BULK))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not third.done()  # the cap (2) holds in the process
            await first.release()
            await (await third).release()
            await second.release()
            assert tries == 1  # one caller paid for finding Redis down; the others went local
        fallbacks = [entry for entry in logged if entry["event"] == "directo_budget_local_fallback"]
        assert len(fallbacks) == 1  # logged once for the interval, not per call

        monkeypatch.setattr(budget, "_redis_down_until", 0.0)  # the interval is over
        await (await budget.acquire(key, priority=Priority.BULK)).release()
        assert tries == 2  # Redis is tried again
    finally:
        await budget.close()
