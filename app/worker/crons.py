"""The worker's periodic ticks, each a `unique` cron named after the deployment's queue.

Every tick is idempotent and safe on many workers at once: it creates work under
deterministic keys and queues it (the runner fences each run), so two workers that both
fire a tick never do the work twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq import cron
from arq.cron import CronJob
from arq.typing import WorkerCoroutine

from app.db.models import Job
from app.db.repositories import directo_calls as call_repo
from app.db.repositories import jobs as job_repo
from app.exports.jobs import exports_tick
from app.jobs.runner import stale_before
from app.metrics import CRON_TICKS
from app.payments.jobs import payments_tick
from app.queue.names import JobName
from app.resources import Resources
from app.statistics.monthly_import import start_due_imports
from app.sync.refresh import start_due_refreshes
from app.webhooks.delivery import deliver_due

log = structlog.get_logger(__name__)

_STRANDED_AFTER = dt.timedelta(seconds=60)
_PRUNE_BATCH = 5000

Tick = Callable[[dict[str, Any]], Awaitable[Any]]


def _named(jobs: list[tuple[uuid.UUID, str]]) -> list[tuple[JobName, uuid.UUID]]:
    known = set(JobName.__members__.values())
    return [(JobName(kind), job_id) for job_id, kind in jobs if kind in known]


async def watchdog(ctx: dict[str, Any]) -> dict[str, int]:
    """Mark runs with a dead heartbeat `interrupted` and queue unfinished jobs again.

    Queueing is idempotent (the arq job id is derived from the job id), so jobs that are
    already queued are untouched; a job lost between commit and enqueue, or whose worker
    died, runs again. A dead run's job is queued at once; jobs that sat `queued` for a
    minute — lost, or left in PostgreSQL by a tick that found the queue full — are queued,
    longest idle first, while fewer than `sync.max_queued_jobs` wait in Redis.
    """
    resources: Resources = ctx["resources"]
    cap = resources.settings.sync.max_queued_jobs
    async with resources.sessionmaker() as session, session.begin():
        interrupted = await job_repo.mark_stale_interrupted(
            session, stale_before=stale_before(resources)
        )
        idle_since = dt.datetime.now(dt.UTC) - _STRANDED_AFTER
        unfinished = await job_repo.unfinished_jobs(session, idle_since=idle_since, limit=cap)
    dead = _named(interrupted)
    dead_ids = {job_id for _, job_id in dead}
    stranded = [job for job in _named(unfinished) if job[1] not in dead_ids]
    # A worker that died between picking a job and claiming it left its in-progress mark.
    await resources.queue.release_many([job_id for _, job_id in [*dead, *stranded]])
    requeued = 0
    for name, job_id in dead:
        requeued += await resources.queue.enqueue(name, job_id)
    requeued += await resources.queue.enqueue_within(stranded, cap=cap)
    if interrupted or requeued:
        log.warning("watchdog_requeued", interrupted=len(interrupted), requeued=requeued)
    return {"interrupted": len(interrupted), "requeued": requeued}


async def deliver_webhooks(ctx: dict[str, Any]) -> int:
    """Send every due webhook delivery (runs every 2 s; safe on many workers at once)."""
    resources: Resources = ctx["resources"]
    attempted = 0
    # Each batch gives every due target a share; failures are rescheduled into the future,
    # so this ends once nothing is due right now.
    while (batch := await deliver_due(resources)) > 0:
        attempted += batch
    return attempted


async def refresh_catalogues(ctx: dict[str, Any]) -> int:
    """Start the scheduled incremental customer/article imports that are due."""
    resources: Resources = ctx["resources"]
    interval = dt.timedelta(hours=resources.settings.sync.catalogue_refresh_hours)
    async with resources.sessionmaker() as session, session.begin():
        jobs = await start_due_refreshes(session, now=dt.datetime.now(dt.UTC), interval=interval)
    await _enqueue_created(resources, jobs)
    return len(jobs)


async def import_statistics(ctx: dict[str, Any]) -> int:
    """Start the scheduled statistics reads that are due — one job per Directo database and
    month (hourly; each client's read of a month is created once, whichever worker ticks)."""
    resources: Resources = ctx["resources"]
    async with resources.sessionmaker() as session, session.begin():
        jobs = await start_due_imports(session, timing=resources.settings.statistics)
    await _enqueue_created(resources, jobs)
    return len(jobs)


async def _enqueue_created(resources: Resources, jobs: list[Job]) -> None:
    """Queue a tick's new jobs while the queue has room (`sync.max_queued_jobs`); the
    watchdog queues the rest from PostgreSQL as workers drain it."""
    await resources.queue.enqueue_within(
        [(JobName(job.kind), job.id) for job in jobs], cap=resources.settings.sync.max_queued_jobs
    )


async def prune_directo_calls(ctx: dict[str, Any]) -> int:
    """Delete logged Directo calls older than `call_log.retention_days`, in batches of
    `_PRUNE_BATCH` rows, each in its own short transaction (hourly)."""
    resources: Resources = ctx["resources"]
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=resources.settings.call_log.retention_days)
    deleted = 0
    while True:
        async with resources.sessionmaker() as session, session.begin():
            batch = await call_repo.prune_batch(session, before=before, batch=_PRUNE_BATCH)
        deleted += batch
        if batch < _PRUNE_BATCH:
            return deleted


def _did_something(result: Any) -> bool:
    """A tick's result says what it did: a count, a list, or a dict of counts."""
    if isinstance(result, dict):
        return any(result.values())
    return bool(result)


def _counted(coroutine: Tick, *, name: str, queue_name: str) -> WorkerCoroutine:
    """`coroutine`, counting each tick it ends in `gateway_cron_ticks_total` and logging
    what it did as `cron_tick` — at debug when it did nothing, so idle ticks (one every 2 s)
    stay out of an INFO log."""

    async def tick(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any:
        outcome = "error"
        try:
            result = await coroutine(ctx)
            outcome = "ok"
            write = log.info if _did_something(result) else log.debug
            write("cron_tick", cron=name, result=result)
            return result
        finally:
            CRON_TICKS.labels(name, queue_name, outcome).inc()

    tick.__qualname__ = tick.__name__ = name
    return tick


def _cron(
    coroutine: Tick, *, queue_name: str, run_at_startup: bool = False, **when: Any
) -> CronJob:
    """A `unique` cron whose runs are named after the queue: `cron:<queue>:<function>`.

    arq de-duplicates a unique cron's run by the job id `<cron name>:<scheduled ms>`, and
    names a cron `cron:<function>` by default — the same name in every deployment. Two
    deployments on one Redis database (staging beside production, each on its own
    `GATEWAY_REDIS__QUEUE_NAME`) would then claim each other's runs: whichever enqueued a
    tick first ran it on its own queue, and the other skipped it. With the queue in the
    name, the workers of one deployment still share each tick, and other deployments run
    theirs.
    """
    name = coroutine.__name__
    return cron(
        _counted(coroutine, name=name, queue_name=queue_name),
        name=f"cron:{queue_name}:{name}",
        unique=True,
        run_at_startup=run_at_startup,
        **when,
    )


def crons(queue_name: str) -> list[CronJob]:
    """The worker's periodic ticks, for the deployment whose queue is `queue_name`."""
    return [
        _cron(watchdog, queue_name=queue_name, second={0, 30}, run_at_startup=True),
        _cron(
            deliver_webhooks,
            queue_name=queue_name,
            second=set(range(0, 60, 2)),
            run_at_startup=True,
        ),
        _cron(
            refresh_catalogues,
            queue_name=queue_name,
            minute=set(range(0, 60, 10)),
            second={15},
        ),
        _cron(import_statistics, queue_name=queue_name, minute={5}, second={45}),
        _cron(exports_tick, queue_name=queue_name, second={40}),
        _cron(payments_tick, queue_name=queue_name, second={40}),
        _cron(prune_directo_calls, queue_name=queue_name, minute={35}, second={20}),
    ]
