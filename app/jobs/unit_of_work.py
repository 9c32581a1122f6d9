"""A unit of work for the composition roots (an API request, a console action): one
session, committed once, and the jobs it created queued only after that commit — a job
that was never committed must never run."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from app.queue.names import JobName
from app.resources import Resources

log = structlog.get_logger(__name__)


class UnitOfWork:
    """One transaction, committed once at the edge (`commit`): an API request's when the
    route returns (`app.api.deps.get_unit_of_work`), a console action's when it is done.
    Jobs created in it are queued only after that commit."""

    def __init__(self, session: AsyncSession, resources: Resources) -> None:
        self.session = session
        self._resources = resources
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    def enqueue_after_commit(self, name: JobName, job_id: uuid.UUID) -> None:
        async def enqueue() -> None:
            try:
                await self._resources.queue.enqueue(name, job_id)
            except (RedisError, OSError) as exc:
                # The job row is committed; the worker's watchdog queues it once Redis is back.
                log.warning("enqueue_deferred", job=name.value, job_id=str(job_id), error=str(exc))

        self._after_commit.append(enqueue)

    async def commit(self) -> None:
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            await callback()
