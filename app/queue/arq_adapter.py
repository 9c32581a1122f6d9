"""The job queue, behind a small adapter so arq (maintenance-only upstream) could be swapped.

Jobs carry only the id of their `jobs` row. The arq job id is derived from it
(`<queue>:job:<uuid>`), so enqueueing the same job twice is a no-op while it is queued or
running. Payloads are JSON: whoever can write to Redis must not be able to run code, which
arq's default pickle serializer would allow.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix
from redis.asyncio import ConnectionPool

from app.config import RedisSettings as GatewayRedisSettings
from app.queue.names import JobName


def serialize(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def deserialize(blob: bytes) -> dict[str, Any]:
    value = json.loads(blob)
    assert isinstance(value, dict)
    return value


def arq_redis_settings(settings: GatewayRedisSettings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.url)


class JobQueue:
    """Enqueues jobs by id; safe to call more than once for the same job."""

    def __init__(self, pool: ArqRedis, *, queue_name: str) -> None:
        self._pool = pool
        self.queue_name = queue_name

    def arq_job_id(self, job_id: uuid.UUID) -> str:
        return f"{self.queue_name}:job:{job_id}"

    async def enqueue(
        self, name: JobName, job_id: uuid.UUID, *, defer_by: dt.timedelta | None = None
    ) -> bool:
        """Queue `name` for the job row `job_id`; False if it is already queued or running."""
        queued = await self._pool.enqueue_job(
            name.value,
            str(job_id),
            _job_id=self.arq_job_id(job_id),
            _queue_name=self.queue_name,
            _defer_by=defer_by,
        )
        return queued is not None

    async def waiting(self) -> int:
        """Jobs in the Redis queue (waiting for a worker, or deferred for a retry)."""
        return int(await self._pool.zcard(self.queue_name))

    async def enqueue_within(self, jobs: Sequence[tuple[JobName, uuid.UUID]], *, cap: int) -> int:
        """Queue `jobs` in order while fewer than `cap` jobs wait in Redis, skipping those
        already there; returns how many were queued. The others stay `queued` in PostgreSQL
        and the watchdog queues them as room frees, so a tick that creates thousands of
        jobs never pushes them into Redis at once."""
        room = cap - await self.waiting()
        if room <= 0 or not jobs:
            return 0
        # One round trip tells which are already queued (the watchdog offers those too).
        scores = await self._pool.zmscore(
            self.queue_name, [self.arq_job_id(job_id) for _, job_id in jobs]
        )
        queued = 0
        for (name, job_id), score in zip(jobs, scores, strict=True):
            if queued >= room:
                break
            if score is None:
                queued += await self.enqueue(name, job_id)
        return queued

    async def release(self, job_id: uuid.UUID) -> None:
        """Forget that a worker holds the job: only for a run known to be dead (its
        heartbeat stopped). arq keeps the job queued while it runs and skips it while its
        in-progress marker lives (as long as the job timeout); dropping the marker lets any
        worker pick the job up again at once."""
        await self._pool.delete(in_progress_key_prefix + self.arq_job_id(job_id))

    async def release_many(self, job_ids: Sequence[uuid.UUID]) -> None:
        """`release` for many jobs in one round trip."""
        if job_ids:
            keys = [in_progress_key_prefix + self.arq_job_id(job_id) for job_id in job_ids]
            await self._pool.delete(*keys)

    async def ping(self) -> None:
        await self._pool.ping()

    async def close(self) -> None:
        await self._pool.aclose(close_connection_pool=True)


def open_queue(settings: GatewayRedisSettings) -> JobQueue:
    """A queue whose connections open on first use, so the API starts (and reports itself
    not ready) while Redis is down, and reconnects by itself when Redis comes back."""
    connections = ConnectionPool.from_url(
        settings.url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
    )
    pool = ArqRedis(
        connections,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_name,
    )
    return JobQueue(pool, queue_name=settings.queue_name)
