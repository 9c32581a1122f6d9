"""The worker's periodic ticks, each a `unique` cron named after the deployment's queue.

Every tick is idempotent and safe on many workers at once: it creates work under
deterministic keys and queues it (the runner fences each run), so two workers that both
fire a tick never do the work twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq import cron
from arq.cron import CronJob
from arq.typing import WorkerCoroutine

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

Tick = Callable[[dict[str, Any]], Awaitable[Any]]


async def watchdog(ctx: dict[str, Any]) -> dict[str, int]:
    """Mark runs with a dead heartbeat `interrupted` and queue every unfinished job again.

    Queueing is idempotent (the arq job id is derived from the job id), so jobs that are
    already queued are untouched; a job lost between commit and enqueue, or whose worker
    died, runs again.
    """
    resources: Resources = ctx["resources"]
    async with resources.sessionmaker() as session, session.begin():
        interrupted = await job_repo.mark_stale_interrupted(
            session, stale_before=stale_before(resources)
        )
        idle_since = dt.datetime.now(dt.UTC) - _STRANDED_AFTER
        unfinished = await job_repo.unfinished_jobs(session, idle_since=idle_since)
    requeued = 0
    # A dead run's job is queued again at once; one that sat `queued` for a minute was
    # lost (enqueue failed) or picked by a worker that died before claiming it.
    for job_id, kind in dict([*unfinished, *interrupted]).items():
        if kind in JobName.__members__.values():
            await resources.queue.release(job_id)
            requeued += await resources.queue.enqueue(JobName(kind), job_id)
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
    for job in jobs:
        await resources.queue.enqueue(JobName(job.kind), job.id)
    return len(jobs)


async def import_statistics(ctx: dict[str, Any]) -> int:
    """Start the monthly statistics imports whose import day has come (hourly; each
    client-month is created once, whichever worker ticks)."""
    resources: Resources = ctx["resources"]
    async with resources.sessionmaker() as session, session.begin():
        jobs = await start_due_imports(session)
    for job in jobs:
        await resources.queue.enqueue(JobName.STATISTICS_IMPORT, job.id)
    return len(jobs)


def _counted(coroutine: Tick, *, name: str, queue_name: str) -> WorkerCoroutine:
    """`coroutine`, counting each tick it ends in `gateway_cron_ticks_total`."""

    async def tick(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any:
        outcome = "error"
        try:
            result = await coroutine(ctx)
            outcome = "ok"
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
    ]
