"""The budget's Redis scripts on the real Redis: the cap, the reserved slots, interactive
waiters ahead of bulk callers, expiry and renewal, and keys namespaced by queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.budget.leases import LeaseSet
from app.config import Settings
from tests.support.waiting import wait_until

LONG = 60_000  # ms: a lease that outlives the test


@pytest.fixture
async def leases(settings: Settings) -> AsyncIterator[LeaseSet]:
    redis = Redis.from_url(settings.redis.url)
    try:
        yield LeaseSet(redis, queue_name=settings.redis.queue_name)
    finally:
        await redis.aclose()


def new_key() -> str:
    return uuid.uuid4().hex


async def take(
    leases: LeaseSet,
    key: str,
    *,
    cap: int = 2,
    reserved: int = 0,
    interactive: bool = False,
    lease_ms: int = LONG,
    lease_id: str | None = None,
) -> str | None:
    """A granted lease's id, or None."""
    lease_id = lease_id or uuid.uuid4().hex
    granted = await leases.try_acquire(
        key,
        lease_id,
        cap=cap,
        reserved=reserved,
        interactive=interactive,
        lease_ms=lease_ms,
        waiter_ms=LONG,
    )
    return lease_id if granted else None


async def test_no_more_than_the_cap_and_a_release_frees_a_slot(leases: LeaseSet) -> None:
    key = new_key()
    first, second = await take(leases, key), await take(leases, key)
    assert first
    assert second
    assert await take(leases, key) is None
    waiter = uuid.uuid4().hex
    assert await take(leases, key, interactive=True, lease_id=waiter) is None
    await leases.release(key, waiter)  # gives up waiting
    assert await leases.held(key) == 2

    await leases.release(key, first)
    await leases.release(key, first)  # twice is harmless
    assert await leases.held(key) == 1
    assert await take(leases, key) is not None


async def test_bulk_never_takes_the_reserved_slots(leases: LeaseSet) -> None:
    key = new_key()
    bulk = [await take(leases, key, cap=4, reserved=1) for _ in range(4)]
    assert [lease is not None for lease in bulk] == [True, True, True, False]
    assert await take(leases, key, cap=4, reserved=1, interactive=True) is not None
    assert await leases.held(key) == 4


async def test_a_waiting_interactive_caller_goes_before_bulk(leases: LeaseSet) -> None:
    key = new_key()
    first, second = await take(leases, key), await take(leases, key)
    assert first
    assert second
    waiter = uuid.uuid4().hex
    assert await take(leases, key, interactive=True, lease_id=waiter) is None  # now waiting

    await leases.release(key, first)
    assert await take(leases, key) is None, "a bulk caller took the slot a waiter needs"
    assert await take(leases, key, interactive=True, lease_id=waiter) == waiter
    # The waiter holds its slot and waits no more: bulk callers compete normally again.
    await leases.release(key, second)
    assert await take(leases, key) is not None


async def test_a_waiter_that_gave_up_no_longer_holds_bulk_back(leases: LeaseSet) -> None:
    key = new_key()
    held = [await take(leases, key) for _ in range(2)]
    waiter = uuid.uuid4().hex
    assert await take(leases, key, interactive=True, lease_id=waiter) is None
    await leases.release(key, waiter)  # cancelled: stops waiting
    assert held[0] is not None
    await leases.release(key, held[0])
    assert await take(leases, key) is not None


async def test_an_unrenewed_lease_expires_and_a_renewed_one_does_not(leases: LeaseSet) -> None:
    key = new_key()
    kept = await take(leases, key, cap=2, lease_ms=300)
    lost = await take(leases, key, cap=2, lease_ms=300)
    assert kept
    assert lost

    async def only_the_renewed_one_left() -> bool:
        assert await leases.renew(key, kept, lease_ms=300)
        return await leases.held(key) == 1

    await wait_until(only_the_renewed_one_left, what="the unrenewed lease expired", within=10)
    assert not await leases.renew(key, lost, lease_ms=300)
    assert await take(leases, key, cap=2) is not None


async def test_keys_are_namespaced_by_the_queue(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis.url)
    try:
        ours = LeaseSet(redis, queue_name=settings.redis.queue_name)
        theirs = LeaseSet(redis, queue_name=f"{settings.redis.queue_name}-other")
        key = new_key()
        assert await take(ours, key, cap=1)
        assert await take(theirs, key, cap=1), "another deployment's budget is its own"
        names = [name.decode() async for name in redis.scan_iter(match=f"*{key}*")]
        assert sorted(names) == [
            f"{settings.redis.queue_name}-other:directo-budget:{key}:leases",
            f"{settings.redis.queue_name}:directo-budget:{key}:leases",
        ]
        await redis.delete(*names)
    finally:
        await redis.aclose()
