"""The job runner: owns a job's transaction and records its life in the `jobs` table.

For every run of a tracked job the runner

1. claims the row (`queued`/`interrupted`, or `running` with a dead heartbeat) under a fresh
   run token — a second delivery of the same job finds nothing to claim and does nothing;
2. beats a heartbeat while the handler works, so the watchdog can tell a dead run
   (`interrupted`) from a slow one;
3. runs the handler in one session and commits the handler's writes **together with** the
   final status, so a job is never `succeeded` without its data nor its data without status;
4. binds the job's id and the request id stored on it (`app.correlation`) for the run, so
   every log line of the run — its Directo calls' too — and every event it writes name both;
5. counts the run in `gateway_job_runs_total{job,outcome}` with its duration;
6. classifies failures: an exception with `retryable = True` puts the job back to `queued`
   and asks the queue to retry later (bounded by the spec's `max_attempts`); any other
   known error (with a `code`) fails it with that code; an unexpected one fails it as
   `internal_error` without leaking its message. Only retryable errors become queue retries.

Handlers never commit, except through `JobContext.checkpoint()` for work that is committed
in batches by design (the handler must then be safe to resume).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app import correlation
from app.db.errors import DatabaseFailure, classify
from app.db.models import Job, JobStatus
from app.db.repositories import jobs as job_repo
from app.errors import AppError
from app.metrics import JOBS_FINISHED, observe_job_run
from app.queue.names import JobName
from app.resources import Resources
from app.webhooks.outbox import emit_many
from app.webhooks.types import EventType

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a handler reports; the runner writes it in the handler's transaction."""

    status: JobStatus = JobStatus.SUCCEEDED
    counts: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None


class JobFailed(Exception):
    """A handler's way to end a job as `failed` with a stable code (never retried)."""

    retryable = False

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class RetryableJobError(Exception):
    """A handler's way to ask for a later retry (e.g. a dependency is briefly unavailable)."""

    retryable = True

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class RetryJob(Exception):
    """Raised by the runner to the queue adapter: run this job again after `delay`."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.1f}s")
        self.delay = delay


@dataclass(slots=True)
class JobContext:
    """What a handler gets: its job row's data, its session, and the shared resources."""

    job: Job
    session: AsyncSession
    resources: Resources
    run_token: uuid.UUID

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    async def progress(
        self, *, done: int, total: int | None = None, phase: str | None = None
    ) -> None:
        """Publish progress at once (own short transaction), visible while the job runs."""
        async with self.resources.sessionmaker() as session, session.begin():
            await job_repo.record_progress(
                session, self.job.id, run_token=self.run_token, done=done, total=total, phase=phase
            )

    async def emit(self, type_: EventType, payload: dict[str, Any]) -> None:
        """Announce an event in the job's transaction; it also goes to the job's callback URL."""
        await self.emit_many(type_, [payload])

    async def emit_many(self, type_: EventType, payloads: list[dict[str, Any]]) -> None:
        """Announce one event per payload, in order, in a fixed number of statements."""
        if self.job.company_id is None:
            raise ValueError("only a company's job can announce events")
        await emit_many(
            self.session,
            company_id=self.job.company_id,
            type_=type_,
            payloads=payloads,
            callback_url=self.job.callback_url,
        )

    async def checkpoint(self) -> None:
        """Commit the handler's work so far (for batch-committed jobs that can resume)."""
        await self.session.commit()

    async def release_connection(self) -> None:
        """Give the session's database connection back to the pool before a long wait on
        Directo (its budget, its latency), so hundreds of jobs waiting on Directo do not
        hold the pool. Only for a handler that has written nothing yet: what it read stays
        loaded (sessions do not expire on commit), and its next statement takes a
        connection again. Raises ``RuntimeError`` if the session holds unflushed writes."""
        if self.session.new or self.session.dirty or self.session.deleted:
            raise RuntimeError("release_connection() with pending writes")
        await self.session.commit()


JobHandler = Callable[[JobContext], Awaitable[JobOutcome]]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a job ended `failed`: its error's code and detail, and whether it gave up on a
    retryable failure (Directo or the database still away after every attempt) rather
    than failing for good."""

    code: str
    detail: str
    gave_up: bool


FailureHook = Callable[[AsyncSession, Job, Failure], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A tracked job: its handler, how often a retryable failure is retried, and what to
    write (in the failing transaction) when it ends `failed` — e.g. an `*_failed` event."""

    name: JobName
    handler: JobHandler
    max_attempts: int = 5
    on_failure: FailureHook | None = None


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential back-off with full jitter: uniform in [base, min(cap, base·2^(attempt-1))]."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(min(base, ceiling), ceiling)  # noqa: S311 (jitter, not crypto)


def stale_before(resources: Resources) -> dt.datetime:
    """Heartbeats older than this mean the run's worker is gone."""
    seconds = resources.settings.sync.heartbeat_seconds * 4
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


async def _heartbeat(resources: Resources, job_id: uuid.UUID, run_token: uuid.UUID) -> None:
    interval = resources.settings.sync.heartbeat_seconds
    while True:
        await asyncio.sleep(interval)
        async with resources.sessionmaker() as session, session.begin():
            if not await job_repo.beat(session, job_id, run_token=run_token):
                return


def _error_record(code: str, detail: str, attempt: int) -> dict[str, Any]:
    return {
        "code": code,
        "detail": detail,
        "attempt": attempt,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }


async def run_tracked_job(resources: Resources, spec: JobSpec, job_id: uuid.UUID) -> None:
    """Run one delivery of job `job_id` with `spec`; see the module docstring.

    Raises RetryJob when the job should run again later; returns normally otherwise.
    """
    run_token = uuid.uuid4()
    async with resources.sessionmaker() as session, session.begin():
        job = await job_repo.claim_job(
            session, job_id, run_token=run_token, stale_before=stale_before(resources)
        )
    if job is None:
        log.info("job_not_claimed", job_id=str(job_id), job=spec.name.value)
        return
    with correlation.bound(request_id=job.request_id, job_id=job_id):
        bound = log.bind(job=spec.name.value, attempt=job.attempts)
        bound.info("job_started")
        heartbeat = asyncio.create_task(_heartbeat(resources, job_id, run_token))
        started = time.perf_counter()
        outcome = "crashed"
        try:
            outcome = await _run_claimed(resources, spec, job, run_token, bound)
        except RetryJob:
            outcome = "retrying"
            raise
        except asyncio.CancelledError:
            outcome = JobStatus.INTERRUPTED.value
            raise
        finally:
            heartbeat.cancel()
            observe_job_run(spec.name.value, outcome, time.perf_counter() - started)
            # The run's Directo calls (and any other buffered ones): one batched INSERT.
            await resources.call_log.flush(resources.sessionmaker)


async def _run_claimed(
    resources: Resources, spec: JobSpec, job: Job, run_token: uuid.UUID, bound: Any
) -> str:
    """Run the handler and record its end; returns the run's outcome (the status it
    recorded, or `superseded`)."""
    async with resources.sessionmaker() as session:
        context = JobContext(job=job, session=session, resources=resources, run_token=run_token)
        try:
            outcome = await spec.handler(context)
            finished = await job_repo.finish_job(
                session,
                job.id,
                run_token=run_token,
                status=outcome.status,
                counts=outcome.counts,
                errors=outcome.errors,
                result=outcome.result,
            )
            if not finished:
                # Another run took over (we were presumed dead): our work must not land.
                await session.rollback()
                bound.warning("job_run_superseded")
                return "superseded"
            await session.commit()
            JOBS_FINISHED.labels(spec.name.value, outcome.status.value).inc()
            bound.info("job_finished", status=outcome.status.value, counts=outcome.counts)
            return outcome.status.value
        except asyncio.CancelledError:
            await session.rollback()
            await asyncio.shield(_mark_interrupted(resources, job, run_token))
            raise
        except Exception as exc:
            await session.rollback()
            return await _handle_failure(resources, spec, job, run_token, exc, bound)


async def _mark_interrupted(resources: Resources, job: Job, run_token: uuid.UUID) -> None:
    async with resources.sessionmaker() as session, session.begin():
        await job_repo.finish_job(
            session,
            job.id,
            run_token=run_token,
            status=JobStatus.INTERRUPTED,
            counts=job.counts,
            errors=[_error_record("interrupted", "the worker stopped this run", job.attempts)],
            result=None,
        )


_TRANSIENT_DATABASE_FAILURES = {
    DatabaseFailure.BUSY: (
        "database_busy",
        "the database declined this time (a lock or statement timeout); retried",
    ),
    DatabaseFailure.UNAVAILABLE: (
        "database_unavailable",
        "no database connection in time (the pool was busy, or the database was away); retried",
    ),
}


def _is_user_facing(exc: Exception) -> bool:
    """Errors whose code and message are fit to show on a job: the gateway's own (AppError)
    and those that classify themselves with `retryable` (the Directo error tree, JobFailed,
    RetryableJobError). A library error that merely has a `code` (SQLAlchemy's are "dbapi",
    with the SQL and its parameters in the message) is internal."""
    return isinstance(getattr(exc, "code", None), str) and (
        isinstance(exc, AppError) or isinstance(getattr(exc, "retryable", None), bool)
    )


async def _handle_failure(
    resources: Resources,
    spec: JobSpec,
    job: Job,
    run_token: uuid.UUID,
    exc: Exception,
    bound: Any,
) -> str:
    known = _is_user_facing(exc)
    code = str(getattr(exc, "code", "")) if known else "internal_error"
    detail = str(exc) if known else f"unexpected {type(exc).__name__}"
    retryable = getattr(exc, "retryable", False) is True
    if (
        not known
        and isinstance(exc, SQLAlchemyError)
        and (transient := _TRANSIENT_DATABASE_FAILURES.get(classify(exc)))
    ):
        # The pool had no connection in time (a busy worker), a lock or statement timeout,
        # a lost connection: the work is fine, this moment was not — run it again.
        known, retryable, (code, detail) = True, True, transient
    error = _error_record(code, detail, job.attempts)
    if retryable and job.attempts < spec.max_attempts:
        async with resources.sessionmaker() as session, session.begin():
            released = await job_repo.release_for_retry(
                session, job.id, run_token=run_token, error=error
            )
        if released:
            settings = resources.settings.directo
            delay = retry_delay(
                job.attempts, base=settings.retry_base_delay, cap=settings.retry_max_delay
            )
            bound.warning("job_retry_scheduled", code=error["code"], delay=round(delay, 2))
            raise RetryJob(delay) from exc
        return "superseded"
    if known:
        bound.warning("job_failed", code=error["code"], detail=detail)
    else:
        bound.exception("job_crashed", error_type=type(exc).__name__)
    async with resources.sessionmaker() as session, session.begin():
        finished = await job_repo.finish_job(
            session,
            job.id,
            run_token=run_token,
            status=JobStatus.FAILED,
            counts=job.counts,
            errors=[error],
            result=None,
        )
        if finished and spec.on_failure is not None:
            await spec.on_failure(session, job, Failure(error["code"], detail, retryable))
    JOBS_FINISHED.labels(spec.name.value, JobStatus.FAILED.value).inc()
    return JobStatus.FAILED.value
