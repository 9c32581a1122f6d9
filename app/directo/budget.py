"""The Directo budget: how many calls one Directo connection may have in flight, fleet-wide.

Directo asks its clients not to hammer it, and every firm on a Directo server shares it. The
client (`client.DirectoClient`) takes a `DirectoBudget` and holds one `Lease` of it for the
length of every HTTP attempt — a feed for as long as its body streams, a put until its answer
is read — and never while it backs off between attempts. The budget itself lives higher up
(`app.budget`, on Redis), so that it holds across every job, worker process and API replica;
this module only says what the client needs of it.

Priorities: `Priority.INTERACTIVE` is work someone is waiting for (connection tests, invoice
puts and their look-ups), `Priority.BULK` everything else (imports, reloads, polls). An
interactive call goes ahead of every bulk call waiting for the same connection, and a bulk
call never takes the connection's reserved slots.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum
from typing import Protocol


class Priority(IntEnum):
    """Lower goes first."""

    INTERACTIVE = 0
    BULK = 1

    @property
    def label(self) -> str:
        return self.name.lower()


class Lease(Protocol):
    """One slot of a connection's budget, held until `release` (idempotent)."""

    async def release(self) -> None: ...


class DirectoBudget(Protocol):
    """Grants slots of a connection's budget; `acquire` waits (cancellably) until one is
    free for `priority`. An implementation keeps a granted lease alive until it is
    released, and lets the lease of a process that died expire."""

    async def acquire(self, key: str, *, priority: Priority) -> Lease: ...


def budget_key(endpoint: str, token: str) -> str:
    """The budget's name for one Directo connection: the endpoint and token it is reached
    with, hashed (the key is visible in Redis; the token must not be)."""
    return hashlib.sha256(f"{endpoint}\n{token}".encode()).hexdigest()[:32]
