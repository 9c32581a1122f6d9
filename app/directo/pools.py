"""`PoolPerConnection`: an HTTP transport with one small connection pool per Directo connection.

Every Directo database is reached on the same host, so one shared httpx pool would hold
every connection of the process — and httpcore's pool rescans all its connections against
each other on every request and every response closed (CPU growing with the square of the
pool: a month-end spent a tenth of its worker CPU there). The budget already bounds each
Directo connection's calls to a handful, so each gets a pool of its own of that size: the
rescans stay tiny, kept-alive connections are reused by the calls they belong to, and a
pool idle for `idle_seconds` is closed and dropped so a month of thousands of connections
does not keep them all.

The client names the pool of a request with the request extension `POOL_KEY` (the budget's
key of the connection); a request without one (a webhook delivery) goes to the shared pool.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

POOL_KEY = "directo_pool"
_SWEEP_EVERY = 30.0


@dataclass(slots=True)
class _Pool:
    transport: httpx.AsyncBaseTransport
    active: int = 0  # requests sent whose response is not closed yet
    last_used: float = field(default_factory=time.monotonic)


class _ClosingStream(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, pool: _Pool) -> None:
        self._stream, self._pool = stream, pool
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._open:
                self._open = False
                self._pool.active -= 1
                self._pool.last_used = time.monotonic()


class PoolPerConnection(httpx.AsyncBaseTransport):
    """Routes each request to the pool its `POOL_KEY` extension names (see the module)."""

    def __init__(
        self,
        shared: httpx.AsyncBaseTransport,
        make_pool: Callable[[], httpx.AsyncBaseTransport],
        *,
        idle_seconds: float = 60.0,
    ) -> None:
        self._shared = shared
        self._make = make_pool
        self._idle = idle_seconds
        self._pools: dict[str, _Pool] = {}
        self._swept = time.monotonic()

    @property
    def keys(self) -> frozenset[str]:
        """The connections that have a pool now."""
        return frozenset(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = request.extensions.get(POOL_KEY)
        if key is None:
            return await self._shared.handle_async_request(request)
        pool = self._pools.get(key)
        if pool is None:
            # Taken out and the new pool put in before any await: no request can reach a
            # pool being closed, and concurrent first requests share one new pool.
            idle = self._take_idle()
            pool = self._pools[key] = _Pool(self._make())
            for stale in idle:
                await stale.transport.aclose()
        pool.active += 1
        pool.last_used = time.monotonic()
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            pool.active -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ClosingStream(response.stream, pool),
            extensions=response.extensions,
        )

    def _take_idle(self) -> list[_Pool]:
        """Remove the pools unused for `idle_seconds` (looked for at most every
        `_SWEEP_EVERY` s); the caller closes them."""
        now = time.monotonic()
        if now - self._swept < _SWEEP_EVERY:
            return []
        self._swept = now
        idle = [
            key
            for key, pool in self._pools.items()
            if not pool.active and now - pool.last_used > self._idle
        ]
        return [self._pools.pop(key) for key in idle]

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.transport.aclose()
        await self._shared.aclose()
