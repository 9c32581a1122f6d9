"""`RedisBudget`: the `DirectoBudget` every process of a deployment shares through Redis.

Waiting: a caller tries (`LeaseSet.try_acquire`); while it gets no slot it waits for the
`Doorbell` (a release anywhere) or its poll interval — 20 ms doubling to `_POLL_MAX`, with
jitter — and tries again. Waiters of one priority are served in no fixed order (whoever asks
first after a release); interactive waiters always before bulk ones (`leases`).

Holding: a granted lease is renewed every third of `budget_lease_seconds` until released, so
a feed that streams for minutes keeps its slot, and a process that dies frees its slots
within one lease time.

Redis down: a process must not stop talking to Directo because the budget's store is away
(the API's connection tests would fail with it). It then falls back to a local semaphore of
the same cap per key — the limit holds per process, not fleet-wide — and logs it once. For
`_REDIS_DOWN_SECONDS` after a failure every acquire goes straight to the local semaphore:
only one caller per interval pays Redis's connect or read timeout, not every Directo call.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.budget.doorbell import Doorbell
from app.budget.leases import LeaseSet
from app.config import DirectoSettings, RedisSettings
from app.directo.budget import Lease, Priority
from app.metrics import DIRECTO_BUDGET_LEASES, DIRECTO_BUDGET_WAIT

log = structlog.get_logger(__name__)

_POLL_FIRST = 0.02
_POLL_MAX = 0.5
_WAITER_MS = 5_000  # an interactive waiter's mark outlives several polls, not a dead process
_REDIS_DOWN_SECONDS = 5.0


class _LocalLease:
    def __init__(self, gate: asyncio.Semaphore) -> None:
        self._gate: asyncio.Semaphore | None = gate

    async def release(self) -> None:
        if self._gate is not None:
            self._gate.release()
            self._gate = None
            DIRECTO_BUDGET_LEASES.dec()


class _RedisLease:
    """A granted slot, renewed in the background until `release`."""

    def __init__(self, budget: RedisBudget, key: str, lease_id: str) -> None:
        self._budget, self._key, self._id = budget, key, lease_id
        self._renewal: asyncio.Task[None] | None = asyncio.create_task(self._renew())
        DIRECTO_BUDGET_LEASES.inc()

    async def _renew(self) -> None:
        leases, lease_ms = self._budget.leases, self._budget.lease_ms
        while True:
            await asyncio.sleep(lease_ms / 3000)
            try:
                if not await leases.renew(self._key, self._id, lease_ms=lease_ms):
                    log.warning("directo_budget_lease_lost", key=self._key)
                    return
            except (RedisError, OSError) as exc:
                log.warning("directo_budget_renew_failed", error=type(exc).__name__)

    async def release(self) -> None:
        if self._renewal is None:
            return
        self._renewal.cancel()
        self._renewal = None
        DIRECTO_BUDGET_LEASES.dec()
        # Shielded: a release in a cancelled task still frees the slot at once.
        await asyncio.shield(self._budget.give_back(self._key, self._id))


class RedisBudget:
    """Implements `app.directo.budget.DirectoBudget` (see the module docstring)."""

    def __init__(self, redis: Redis, *, queue_name: str, settings: DirectoSettings) -> None:
        self.leases = LeaseSet(redis, queue_name=queue_name)
        self.cap = settings.max_concurrency_per_connection
        self.reserved = min(settings.interactive_reserved_slots, self.cap - 1)
        self.lease_ms = max(1, int(settings.budget_lease_seconds * 1000))
        self._redis = redis
        self._doorbell = Doorbell(redis, channel=self.leases.channel)
        self._local: dict[str, asyncio.Semaphore] = {}
        self._redis_down_until = 0.0  # monotonic; local leases only until then
        self._background: set[asyncio.Task[None]] = set()

    async def acquire(self, key: str, *, priority: Priority) -> Lease:
        """Wait for a slot of `key` (cancellable: a cancelled waiter leaves no trace)."""
        started = time.monotonic()
        try:
            lease = await self._wait(key, priority)
        finally:
            waited = time.monotonic() - started
            DIRECTO_BUDGET_WAIT.labels(priority.label).observe(waited)
        return lease

    async def _wait(self, key: str, priority: Priority) -> Lease:
        if time.monotonic() < self._redis_down_until:
            return await self._acquire_locally(key)
        lease = await self._wait_on_redis(key, priority)
        # Redis failed: the local limit, outside the Redis wait (a cancelled local waiter
        # has nothing to give back to Redis).
        return lease if lease is not None else await self._acquire_locally(key)

    async def _wait_on_redis(self, key: str, priority: Priority) -> Lease | None:
        """A Redis lease, or None once Redis failed (see `_redis_failed`)."""
        lease_id = uuid.uuid4().hex
        delay = _POLL_FIRST
        try:
            while True:
                try:
                    granted = await self.leases.try_acquire(
                        key,
                        lease_id,
                        cap=self.cap,
                        reserved=self.reserved,
                        interactive=priority is Priority.INTERACTIVE,
                        lease_ms=self.lease_ms,
                        waiter_ms=_WAITER_MS,
                    )
                except (RedisError, OSError) as exc:
                    self._redis_failed(exc)
                    # Redis may have run the script and lost only its answer: give that
                    # lease (or waiting mark) back rather than hold a slot until it expires
                    # — in the background, not paying another timeout first.
                    self._in_background(self.give_back(key, lease_id))
                    return None
                if granted:
                    return _RedisLease(self, key, lease_id)
                pause = delay * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not crypto)
                await self._doorbell.wait(key, seconds=pause)
                delay = min(delay * 2, _POLL_MAX)
        except asyncio.CancelledError:
            # The answer to the last try may have granted a lease nobody will release.
            await asyncio.shield(self.give_back(key, lease_id))
            raise

    def _redis_failed(self, error: Exception) -> None:
        if time.monotonic() >= self._redis_down_until:
            log.warning(
                "directo_budget_local_fallback",
                error=type(error).__name__,
                retry_redis_after_s=_REDIS_DOWN_SECONDS,
            )
        self._redis_down_until = time.monotonic() + _REDIS_DOWN_SECONDS

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _acquire_locally(self, key: str) -> Lease:
        gate = self._local.setdefault(key, asyncio.Semaphore(self.cap))
        await gate.acquire()
        DIRECTO_BUDGET_LEASES.inc()
        return _LocalLease(gate)

    async def give_back(self, key: str, lease_id: str) -> None:
        """Release `lease_id` (a no-op for one not held); Redis errors are logged, and the
        lease then expires by itself."""
        try:
            await self.leases.release(key, lease_id)
        except (RedisError, OSError) as exc:
            log.warning("directo_budget_release_failed", error=type(exc).__name__)
        self._doorbell.ring(key)  # this process's waiters need not wait for the message

    async def close(self) -> None:
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task
        await self._doorbell.close()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()


def open_budget(redis: RedisSettings, directo: DirectoSettings) -> RedisBudget:
    """The deployment's budget on its own Redis connections (opened on first use, so a
    process starts while Redis is down); `RedisBudget.close` closes them."""
    client = Redis.from_url(
        redis.url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
    )
    return RedisBudget(client, queue_name=redis.queue_name, settings=directo)
