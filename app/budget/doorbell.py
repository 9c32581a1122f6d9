"""`Doorbell`: wakes this process's budget waiters when any process gives a slot back.

One pub/sub subscription per process (not one Redis connection per waiter): a release
publishes its budget key, and every local waiter of that key tries again at once instead of
sleeping out its poll interval. A lost message costs at most that interval — waiters still
poll, which is also how they notice leases that expired without a release.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


class Doorbell:
    def __init__(self, redis: Redis, *, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None

    def ring(self, key: str) -> None:
        """Wake every local waiter of `key`."""
        for event in self._waiters.get(key, ()):
            event.set()

    async def wait(self, key: str, *, seconds: float) -> None:
        """Return when a slot of `key` was given back anywhere, or after `seconds`."""
        self._listen()
        event = asyncio.Event()
        waiters = self._waiters.setdefault(key, set())
        waiters.add(event)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await event.wait()
        finally:
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(key, None)

    def _listen(self) -> None:
        if self._listener is None or self._listener.done():
            # A context of its own: not the first waiter's request and job ids for life.
            self._listener = asyncio.create_task(
                self._run(), name="directo-budget-doorbell", context=contextvars.Context()
            )

    async def _run(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is not None and isinstance(message.get("data"), bytes):
                    self.ring(message["data"].decode())
        except (RedisError, OSError) as exc:
            # Waiters fall back to polling; the next wait subscribes again.
            log.warning("directo_budget_doorbell_lost", error=type(exc).__name__)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
