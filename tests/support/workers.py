"""Real worker processes for crash and scale-out tests: their environment, and starting one."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import DEVNULL, Process

from sqlalchemy import func, select

from app.db.models import Job, JobStatus
from app.jobs.runner import stale_before
from app.resources import Resources
from app.worker.settings import worker_is_alive


def worker_env(db: Resources) -> dict[str, str]:
    settings = db.settings
    return {
        **os.environ,
        "GATEWAY_DATABASE__URL": settings.database.url,
        "GATEWAY_REDIS__URL": settings.redis.url,
        "GATEWAY_REDIS__QUEUE_NAME": settings.redis.queue_name,
        "GATEWAY_DIRECTO__BASE_URL": settings.directo.base_url,
        "GATEWAY_DIRECTO__RETRY_BASE_DELAY": "0.01",
        "GATEWAY_DIRECTO__RETRY_MAX_DELAY": "0.05",
        "GATEWAY_SYNC__HEARTBEAT_SECONDS": str(settings.sync.heartbeat_seconds),
        "GATEWAY_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
        "GATEWAY_WEBHOOKS__ALLOW_HTTP": "true",
        "GATEWAY_LOG__LEVEL": "WARNING",
        "GATEWAY_WORKER__METRICS_PORT": "0",
    }


async def start_worker(db: Resources, **env: str) -> Process:
    """A `directo-gateway worker` process; `env` adds or overrides variables."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", env={**worker_env(db), **env}, stdout=DEVNULL
    )


async def no_live_runs(db: Resources) -> bool:
    """True once no run's heartbeat is fresh: a killed worker's runs are the watchdog's."""
    async with db.sessionmaker() as session:
        live = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.status == JobStatus.RUNNING, Job.heartbeat_at >= stale_before(db))
        )
    return live == 0


async def worker_polling(db: Resources) -> bool:
    """True once a worker on the session's queue has started and written its beacon."""
    return await worker_is_alive(db.settings)
