"""arq worker wiring, and nothing else: which functions and crons run, with which settings.

The worker's startup opens the same `Resources` the API uses. Deliberate arq settings:
JSON payloads (not pickle); `keep_result=0` because the `jobs` table, not Redis, holds
results — so a job id is free to be queued again as soon as a run ends; a 30 s health
check; `max_tries` high because the runner, not arq, bounds attempts per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from contextlib import AsyncExitStack
from typing import Any

import structlog
from arq import Retry
from arq.worker import Function, Worker, func
from redis.exceptions import RedisError

from app.config import Settings, get_settings
from app.jobs.runner import JobSpec, RetryJob, run_tracked_job
from app.logging import configure_logging
from app.queue.arq_adapter import arq_redis_settings, deserialize, serialize
from app.queue.names import JobName
from app.resources import Resources, open_resources
from app.runtime import tune_garbage_collector
from app.worker import fleet_gauges
from app.worker.crons import crons, deliver_webhooks
from app.worker.metrics_server import MetricsServer
from app.worker.quiet_logs import demote_arq_job_lines
from app.worker.registry import JOB_SPECS

log = structlog.get_logger(__name__)


# Jobs whose handler keeps its database connection while it reads Directo (it writes as
# batches stream in, or queries between them). A worker runs `worker_max_jobs` jobs at once,
# most of them waiting on Directo: at most `database.pool_size` of these hold a connection
# at a time, the others wait unclaimed, so the pool keeps room for heartbeats, progress and
# every other job. (The statistics import gives its connection back before it reads.)
_HOLD_A_CONNECTION = frozenset(
    {JobName.CUSTOMERS_IMPORT, JobName.ARTICLES_IMPORT, JobName.PAYMENT_POLL}
)


def _arq_function(spec: JobSpec, gate: asyncio.Semaphore | None = None) -> Function:
    async def run(ctx: dict[str, Any], job_id: str) -> None:
        async with gate if gate is not None else contextlib.nullcontext():
            try:
                await run_tracked_job(ctx["resources"], spec, uuid.UUID(job_id))
            except RetryJob as retry:
                raise Retry(defer=retry.delay) from retry

    run.__qualname__ = run.__name__ = spec.name.value
    return func(run, name=spec.name.value)


def _health_key(settings: Settings) -> str:
    return f"{settings.redis.queue_name}:health-check"


async def worker_is_alive(settings: Settings) -> bool:
    """True while some worker on this queue has written its health beacon (every 30 s)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis.url, socket_connect_timeout=3)
    try:
        return bool(await redis.exists(_health_key(settings)))
    finally:
        await redis.aclose()


async def _serve_metrics(settings: Settings, resources: Resources, stack: AsyncExitStack) -> None:
    """Start this worker's `/metrics` (unless its port is 0), stopped with the worker. A port
    already taken (two workers on one host with the same setting) is logged, not fatal."""
    if not settings.worker.metrics_port:
        return
    server = MetricsServer(
        host=settings.worker.metrics_host,
        port=settings.worker.metrics_port,
        before_scrape=functools.partial(fleet_gauges.refresh, resources),
    )
    try:
        await server.start()
    except OSError as exc:
        log.error("worker_metrics_unavailable", port=settings.worker.metrics_port, error=str(exc))
        return
    stack.push_async_callback(server.stop)


def build_worker(settings: Settings, *, burst: bool = False, handle_signals: bool = True) -> Worker:
    """A worker on the settings' Redis and queue, running every registered job."""
    stack = AsyncExitStack()

    async def startup(ctx: dict[str, Any]) -> None:
        configure_logging(settings.log)
        demote_arq_job_lines()
        resources = ctx["resources"] = await stack.enter_async_context(open_resources(settings))
        await _serve_metrics(settings, resources, stack)
        tune_garbage_collector()

    async def shutdown(ctx: dict[str, Any]) -> None:
        await stack.aclose()

    holding = asyncio.Semaphore(settings.database.pool_size)
    return Worker(
        functions=[
            *(
                _arq_function(spec, holding if spec.name in _HOLD_A_CONNECTION else None)
                for spec in JOB_SPECS.values()
            ),
            func(deliver_webhooks, name="deliver_webhooks"),
        ],
        cron_jobs=crons(settings.redis.queue_name),
        queue_name=settings.redis.queue_name,
        redis_settings=arq_redis_settings(settings.redis),
        on_startup=startup,
        on_shutdown=shutdown,
        burst=burst,
        handle_signals=handle_signals,
        job_timeout=settings.sync.job_timeout_seconds,
        keep_result=0,
        max_tries=1000,
        health_check_interval=30,
        health_check_key=_health_key(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        max_jobs=settings.sync.worker_max_jobs,
    )


async def run_until_stopped(settings: Settings, *, handle_signals: bool = True) -> None:
    """Run a worker until it is stopped (SIGINT/SIGTERM, or cancellation).

    Losing Redis does not end the process: the worker is rebuilt and polls again once
    Redis answers, with a capped back-off. Jobs are not lost meanwhile: their rows are in
    PostgreSQL and the watchdog queues them again.
    """
    delay = 1.0
    while True:
        worker = build_worker(settings, handle_signals=handle_signals)
        # arq's SIGTERM/SIGINT handler stops the worker by cancelling `main_task`; arq only
        # sets it in its own blocking `run()`, so without this the signal is logged as a
        # shutdown and the worker keeps polling.
        worker.main_task = asyncio.ensure_future(worker.main())
        try:
            await worker.main_task
            return
        except (RedisError, OSError) as exc:
            log.warning("worker_lost_redis", error=type(exc).__name__, retry_in=delay)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await worker.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


def run_worker() -> None:
    """What `directo-gateway worker` does."""
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(run_until_stopped(get_settings()))
