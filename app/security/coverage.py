"""Whether this process can open every stored secret: the key ids found in the database that
its `GATEWAY_ENCRYPTION__KEYS` lacks.

A replica missing a key answers 503 `encryption_key_missing` wherever it needs a secret
sealed under that key; readiness reports it up front so a deploy or load balancer notices.
Readiness is probed often, by every replica, so the answer (one `SELECT DISTINCT` over three
small tables) is kept for a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import system as system_repo
from app.security.crypto import SecretBox

CACHE_SECONDS = 10.0


class KeyCoverage:
    """The stored key ids this process cannot open, cached for `ttl` seconds."""

    def __init__(
        self,
        secrets: SecretBox,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secrets = secrets
        self._ttl = ttl
        self._clock = clock
        self._cached: tuple[float, list[str]] | None = None

    async def missing(self, sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
        """Sorted key ids under which some secret is stored and that no configured key has.

        Database errors propagate (and nothing is cached), so a failed look-up is never
        mistaken for "nothing missing".
        """
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        async with sessionmaker() as session:
            stored = await system_repo.stored_key_ids(session)
        missing = sorted(stored - self._secrets.key_ids)
        self._cached = (now, missing)
        return missing
