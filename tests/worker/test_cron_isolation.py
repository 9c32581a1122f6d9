"""Two deployments on one Redis database, each on its own queue, both run every cron tick.

arq de-duplicates a unique cron run by its job id; named without the queue, the runs of
one deployment would block the same runs of the other. Here two real workers (different
queue names, same Redis database) are made to reach the same scheduled instant of every
cron together, and each must run every one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid

import pytest
from arq.worker import Worker
from prometheus_client import REGISTRY

from app.resources import Resources
from app.worker.settings import build_worker

FAR_FUTURE = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)


def ticks(cron: str, queue: str) -> float:
    value = REGISTRY.get_sample_value(
        "gateway_cron_ticks_total", {"cron": cron, "queue": queue, "outcome": "ok"}
    )
    return value or 0.0


async def started(worker: Worker) -> None:
    async with asyncio.timeout(30):
        while "resources" not in worker.ctx:
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_two_deployments_on_one_redis_both_run_every_cron(db: Resources) -> None:
    queues = [f"deploy-{name}-{uuid.uuid4().hex[:6]}" for name in ("prod", "staging")]
    workers = [
        build_worker(
            db.settings.model_copy(
                update={"redis": db.settings.redis.model_copy(update={"queue_name": queue})}
            ),
            handle_signals=False,
        )
        for queue in queues
    ]
    names = [job.name.rsplit(":", 1)[-1] for job in workers[0].cron_jobs]
    assert sorted(names) == [
        "deliver_webhooks",
        "exports_tick",
        "import_statistics",
        "payments_tick",
        "prune_directo_calls",
        "refresh_catalogues",
        "watchdog",
    ]
    # Nothing fires on its own schedule (nor at start-up) while the test sets up.
    for worker in workers:
        for job in worker.cron_jobs:
            job.next_run = FAR_FUTURE
    before = {(name, queue): ticks(name, queue) for name in names for queue in queues}
    tasks = [asyncio.create_task(worker.main()) for worker in workers]
    try:
        for worker in workers:
            await started(worker)
        # Both deployments reach the same scheduled instant of every cron, as two
        # deployments do at every real tick: the same run of each cron, in both.
        instant = dt.datetime.now(workers[0].timezone) + dt.timedelta(seconds=1.5)
        for worker in workers:
            for job in worker.cron_jobs:
                job.next_run = instant
        async with asyncio.timeout(30):
            while missing := [
                (name, queue)
                for (name, queue), seen in before.items()
                if ticks(name, queue) <= seen
            ]:
                assert not any(task.done() for task in tasks), missing
                await asyncio.sleep(0.1)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for worker in workers:
            await worker.close()
