"""The job runner's promises: atomic outcome, classified failures, bounded retries,
single ownership of a run, visible progress, and the watchdog's recovery."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from app.db.models import Integration, Job, JobStatus
from app.db.repositories import jobs as job_repo
from app.jobs.runner import (
    Failure,
    JobContext,
    JobFailed,
    JobOutcome,
    JobSpec,
    RetryableJobError,
    RetryJob,
    retry_delay,
    run_tracked_job,
)
from app.queue.names import JobName
from app.resources import Resources
from app.worker.crons import watchdog
from app.worker.registry import JOB_SPECS
from app.worker.settings import build_worker


async def new_job(resources: Resources) -> uuid.UUID:
    async with resources.sessionmaker() as session, session.begin():
        job = await job_repo.create_job(session, kind=JobName.PING.value, company_id="c1")
    return job.id


async def load(resources: Resources, job_id: uuid.UUID) -> Job:
    async with resources.sessionmaker() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def integrations(resources: Resources) -> int:
    async with resources.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Integration)) or 0)


def spec(handler: object, **kwargs: object) -> JobSpec:
    return JobSpec(name=JobName.PING, handler=handler, **kwargs)  # type: ignore[arg-type]


async def test_handler_writes_and_final_status_commit_together(db: Resources) -> None:
    async def handler(context: JobContext) -> JobOutcome:
        context.session.add(Integration(company_id="c1"))
        return JobOutcome(counts={"added": 1}, result={"ok": True})

    job_id = await new_job(db)
    await run_tracked_job(db, spec(handler), job_id)
    job = await load(db, job_id)
    assert (job.status, job.counts, job.result, job.attempts) == (
        JobStatus.SUCCEEDED,
        {"added": 1},
        {"ok": True},
        1,
    )
    assert job.finished_at is not None
    assert await integrations(db) == 1


async def test_known_failure_rolls_back_work_and_runs_the_failure_hook(db: Resources) -> None:
    hooked: list[tuple[str, str]] = []

    async def handler(context: JobContext) -> JobOutcome:
        context.session.add(Integration(company_id="c1"))
        await context.session.flush()
        raise JobFailed("feed_broken", "the feed could not be read")

    async def on_failure(session: object, job: Job, failure: Failure) -> None:
        assert not failure.gave_up  # failed for good, not a retryable failure given up on
        hooked.append((failure.code, failure.detail))

    job_id = await new_job(db)
    await run_tracked_job(db, spec(handler, on_failure=on_failure), job_id)
    job = await load(db, job_id)
    assert job.status == JobStatus.FAILED
    assert [(e["code"], e["detail"], e["attempt"]) for e in job.errors] == [
        ("feed_broken", "the feed could not be read", 1)
    ]
    assert hooked == [("feed_broken", "the feed could not be read")]
    assert await integrations(db) == 0


async def test_unexpected_error_fails_without_leaking_its_message(db: Resources) -> None:
    async def handler(context: JobContext) -> JobOutcome:
        raise RuntimeError("token=supersecret")

    job_id = await new_job(db)
    await run_tracked_job(db, spec(handler), job_id)
    job = await load(db, job_id)
    assert job.status == JobStatus.FAILED
    assert [(e["code"], e["detail"]) for e in job.errors] == [
        ("internal_error", "unexpected RuntimeError")
    ]


async def test_retryable_errors_are_retried_a_bounded_number_of_times(db: Resources) -> None:
    calls = 0

    async def handler(context: JobContext) -> JobOutcome:
        nonlocal calls
        calls += 1
        raise RetryableJobError("directo_unavailable", "Directo answered 503")

    job_id = await new_job(db)
    for attempt in (1, 2):
        with pytest.raises(RetryJob) as retry:
            await run_tracked_job(db, spec(handler, max_attempts=3), job_id)
        assert 0 < retry.value.delay <= db.settings.directo.retry_max_delay
        job = await load(db, job_id)
        assert (job.status, job.attempts, len(job.errors)) == (JobStatus.QUEUED, attempt, attempt)

    await run_tracked_job(db, spec(handler, max_attempts=3), job_id)  # third: gives up
    job = await load(db, job_id)
    assert (job.status, job.attempts, calls) == (JobStatus.FAILED, 3, 3)
    assert [e["code"] for e in job.errors] == ["directo_unavailable"] * 3


async def test_a_finished_job_delivered_again_does_nothing(db: Resources) -> None:
    calls = 0

    async def handler(context: JobContext) -> JobOutcome:
        nonlocal calls
        calls += 1
        return JobOutcome()

    job_id = await new_job(db)
    await run_tracked_job(db, spec(handler), job_id)
    await run_tracked_job(db, spec(handler), job_id)
    assert calls == 1
    assert (await load(db, job_id)).attempts == 1


async def test_a_live_run_is_not_claimed_twice_but_a_dead_one_is(db: Resources) -> None:
    job_id = await new_job(db)
    now = dt.datetime.now(dt.UTC)
    async with db.sessionmaker() as session, session.begin():
        first = await job_repo.claim_job(
            session, job_id, run_token=uuid.uuid4(), stale_before=now - dt.timedelta(minutes=1)
        )
    async with db.sessionmaker() as session, session.begin():
        second = await job_repo.claim_job(
            session, job_id, run_token=uuid.uuid4(), stale_before=now - dt.timedelta(minutes=1)
        )
    assert first is not None
    assert second is None
    async with db.sessionmaker() as session, session.begin():
        third = await job_repo.claim_job(
            session, job_id, run_token=uuid.uuid4(), stale_before=now + dt.timedelta(minutes=1)
        )
    assert third is not None
    assert third.attempts == 2


async def test_a_superseded_run_cannot_land_its_work(db: Resources) -> None:
    async def handler(context: JobContext) -> JobOutcome:
        context.session.add(Integration(company_id="c1"))
        async with db.sessionmaker() as other, other.begin():  # another run takes over
            await other.execute(
                update(Job).where(Job.id == context.job.id).values(run_token=uuid.uuid4())
            )
        return JobOutcome()

    job_id = await new_job(db)
    await run_tracked_job(db, spec(handler), job_id)
    assert (await load(db, job_id)).status == JobStatus.RUNNING  # the other run owns it
    assert await integrations(db) == 0


async def test_progress_is_visible_while_the_job_runs(db: Resources) -> None:
    seen: list[tuple[int, int | None, str | None]] = []

    async def handler(context: JobContext) -> JobOutcome:
        await context.progress(done=5, total=10, phase="reading")
        job = await load(db, context.job.id)
        seen.append((job.progress_done, job.progress_total, job.phase))
        return JobOutcome()

    job_id = await new_job(db)
    await run_tracked_job(db, spec(handler), job_id)
    assert seen == [(5, 10, "reading")]
    job = await load(db, job_id)
    assert (job.progress_done, job.progress_total, job.phase) == (5, 10, None)


async def test_cancelled_run_is_recorded_as_interrupted(db: Resources) -> None:
    started = asyncio.Event()

    async def handler(context: JobContext) -> JobOutcome:
        started.set()
        await asyncio.Event().wait()  # works until cancelled
        return JobOutcome()

    job_id = await new_job(db)
    task = asyncio.create_task(run_tracked_job(db, spec(handler), job_id))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    job = await load(db, job_id)
    assert job.status == JobStatus.INTERRUPTED
    assert job.errors[-1]["code"] == "interrupted"


async def test_watchdog_interrupts_dead_runs_and_queues_unfinished_jobs(db: Resources) -> None:
    dead, stranded = await new_job(db), await new_job(db)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(Job)
            .where(Job.id == dead)
            .values(status=JobStatus.RUNNING, heartbeat_at=long_ago, updated_at=long_ago)
        )
        await session.execute(update(Job).where(Job.id == stranded).values(updated_at=long_ago))

    # The dead run's worker left arq's in-progress marker behind (SIGKILL): it would keep
    # the job from running again until the job timeout.
    marker = f"arq:in-progress:{db.queue.arq_job_id(dead)}"
    redis = Redis.from_url(db.settings.redis.url)
    await redis.set(marker, b"1", ex=3600)

    result = await watchdog({"resources": db})
    assert result == {"interrupted": 1, "requeued": 2}
    assert (await load(db, dead)).status == JobStatus.INTERRUPTED
    assert not await redis.exists(marker)
    await redis.aclose()
    # Both are now in the queue: queueing them again is a no-op.
    assert await db.queue.enqueue(JobName.PING, stranded) is False
    assert await db.queue.enqueue(JobName.PING, dead) is False


def test_retry_delay_grows_exponentially_within_its_bounds() -> None:
    for attempt in range(1, 12):
        delay = retry_delay(attempt, base=60, cap=600)
        assert 60 <= delay <= min(600, 60 * 2 ** (attempt - 1))


def test_every_job_name_is_registered_with_the_worker(db: Resources) -> None:
    assert set(JOB_SPECS) == set(JobName)
    worker = build_worker(db.settings, burst=True, handle_signals=False)
    assert {name.value for name in JobName} <= set(worker.functions)


async def test_job_events_also_go_to_the_request_callback(db: Resources) -> None:
    from app.db.models import Event, WebhookDelivery
    from app.webhooks.types import EventType

    async with db.sessionmaker() as session, session.begin():
        job = await job_repo.create_job(
            session, kind=JobName.PING.value, company_id="c1", callback_url="http://127.0.0.1:9/cb"
        )

    async def handler(context: JobContext) -> JobOutcome:
        await context.emit(EventType.CUSTOMERS_IMPORTED, {"added": 2})
        return JobOutcome()

    await run_tracked_job(db, spec(handler), job.id)
    async with db.sessionmaker() as session:
        event = await session.scalar(select(Event))
        delivery = await session.scalar(select(WebhookDelivery))
    assert event is not None
    assert (event.type, event.payload, event.company_id) == (
        "customers.imported",
        {"added": 2},
        "c1",
    )
    assert delivery is not None
    assert (delivery.callback_url, delivery.endpoint_id) == ("http://127.0.0.1:9/cb", None)


async def test_a_library_error_with_a_code_is_still_internal(db: Resources) -> None:
    from sqlalchemy.exc import DBAPIError

    async def handler(context: JobContext) -> JobOutcome:
        raise DBAPIError("INSERT INTO t VALUES ($1)", {"p": "customer data"}, Exception("boom"))

    job_id = await new_job(db)
    await run_tracked_job(db, spec(handler), job_id)
    job = await load(db, job_id)
    assert [(e["code"], e["detail"]) for e in job.errors] == [
        ("internal_error", "unexpected DBAPIError")
    ]


async def test_a_pool_with_no_connection_in_time_is_retried_not_a_crash(db: Resources) -> None:
    """A busy worker (hundreds of jobs, a pool of a few connections) is a moment, not a
    bug: the run is retried with a code that says so."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    async def handler(context: JobContext) -> JobOutcome:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    job_id = await new_job(db)
    with pytest.raises(RetryJob):
        await run_tracked_job(db, spec(handler, max_attempts=2), job_id)
    job = await load(db, job_id)
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
    assert [e["code"] for e in job.errors] == ["database_unavailable"]
    assert "QueuePool" not in job.errors[0]["detail"]
