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

    async def release(self, job_id: uuid.UUID) -> None:
        """Forget that a worker holds the job: only for a run known to be dead (its
        heartbeat stopped). arq keeps the job queued while it runs and skips it while its
        in-progress marker lives (as long as the job timeout); dropping the marker lets any
        worker pick the job up again at once."""
        await self._pool.delete(in_progress_key_prefix + self.arq_job_id(job_id))

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
