"""Real worker processes for crash and scale-out tests: their environment, and starting one."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import DEVNULL, Process

from app.resources import Resources


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
    }


async def start_worker(db: Resources) -> Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", env=worker_env(db), stdout=DEVNULL
    )
