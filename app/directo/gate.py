"""`CallGate`: how many Directo calls one process has on the wire at once, interactive first.

The budget (`budget`) bounds the calls to each Directo connection fleet-wide; a worker
running hundreds of jobs for hundreds of connections can still start more calls at once than
its HTTP pool has connections. httpx would queue the rest inside the pool — in no priority
order, failing each with ``PoolTimeout`` after the connect timeout, and rescanning every
queued request against every connection on each change (CPU that grows with the square of
the queue). The client waits here instead, after its budget lease and before the request:
never more calls than connections, interactive calls handed the next free connection before
any bulk call, and no time limit on the wait (the budget's waits have none either).
"""

from __future__ import annotations

import asyncio
from collections import deque

from app.directo.budget import Priority


class CallGate:
    """A priority semaphore of `size` permits; `acquire` is cancellable."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a gate needs at least one permit")
        self._free = size
        self._waiting: dict[Priority, deque[asyncio.Future[None]]] = {
            priority: deque() for priority in Priority
        }

    async def acquire(self, priority: Priority) -> None:
        if self._free and not any(self._waiting.values()):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[priority]
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a permit as it was cancelled: pass it on
            elif waiter in queue:  # a release may have skipped it already
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Give a permit back: to the first interactive waiter, else the first bulk one."""
        for priority in sorted(self._waiting):
            queue = self._waiting[priority]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())
