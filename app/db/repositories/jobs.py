"""Jobs table access: creation with single-flight/dedupe keys, claiming runs, progress,
and the watchdog queries. Every update that belongs to a run is fenced by its `run_token`,
so a run that was presumed dead can never overwrite the result of the run that replaced it.

A job is created with the request id of the context (`app.correlation.REQUEST_ID`): the API
request's, or — for a job a job creates — the request id of the run creating it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Uuid, column, delete, func, or_, select, text, update, values
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import correlation
from app.db.models import Job, JobStatus
from app.db.models.enums import ACTIVE_JOB_STATUSES

_ACTIVE_PREDICATE = text("status IN ('queued', 'running', 'interrupted')")


async def create_job(
    session: AsyncSession,
    *,
    kind: str,
    company_id: str | None = None,
    connection_id: uuid.UUID | None = None,
    params: dict[str, Any] | None = None,
    callback_url: str | None = None,
) -> Job:
    job = Job(
        id=uuid.uuid4(),
        kind=kind,
        status=JobStatus.QUEUED,
        company_id=company_id,
        connection_id=connection_id,
        params=params or {},
        counts={},
        errors=[],
        callback_url=callback_url,
        request_id=correlation.REQUEST_ID.get(),
    )
    session.add(job)
    await session.flush()
    return job


async def create_singleflight_job(
    session: AsyncSession,
    *,
    kind: str,
    singleflight_key: str,
    company_id: str | None = None,
    connection_id: uuid.UUID | None = None,
    params: dict[str, Any] | None = None,
    callback_url: str | None = None,
) -> tuple[Job, bool]:
    """The unfinished job for `singleflight_key`, creating it if there is none.

    Returns (job, created). Safe under concurrency: the partial unique index decides.
    """
    statement = (
        insert(Job)
        .values(
            id=uuid.uuid4(),
            kind=kind,
            status=JobStatus.QUEUED,
            company_id=company_id,
            connection_id=connection_id,
            params=params or {},
            counts={},
            errors=[],
            callback_url=callback_url,
            request_id=correlation.REQUEST_ID.get(),
            singleflight_key=singleflight_key,
            progress_done=0,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["singleflight_key"], index_where=_ACTIVE_PREDICATE)
        .returning(Job.id)
    )
    new_id = (await session.execute(statement)).scalar_one_or_none()
    if new_id is not None:
        job = await session.get(Job, new_id)
        assert job is not None
        return job, True
    existing = await session.scalar(
        select(Job).where(
            Job.singleflight_key == singleflight_key, Job.status.in_(ACTIVE_JOB_STATUSES)
        )
    )
    if existing is None:  # finished between our insert and select: try once more
        return await create_singleflight_job(
            session,
            kind=kind,
            singleflight_key=singleflight_key,
            company_id=company_id,
            connection_id=connection_id,
            params=params,
            callback_url=callback_url,
        )
    return existing, False


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id)


async def claim_job(
    session: AsyncSession, job_id: uuid.UUID, *, run_token: uuid.UUID, stale_before: dt.datetime
) -> Job | None:
    """Mark the job running under `run_token` if nobody live is running it.

    A job can be claimed when queued or interrupted, or when running with a heartbeat older
    than `stale_before` (its worker died). Finished jobs are never claimed again.
    """
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.status.in_([JobStatus.QUEUED, JobStatus.INTERRUPTED]),
                (Job.status == JobStatus.RUNNING) & (Job.heartbeat_at < stale_before),
            ),
        )
        .values(
            status=JobStatus.RUNNING,
            run_token=run_token,
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, func.now()),
            heartbeat_at=func.now(),
        )
        .returning(Job)
    )
    return (await session.execute(statement)).scalar_one_or_none()


def _fenced(job_id: uuid.UUID, run_token: uuid.UUID) -> Any:
    return update(Job).where(
        Job.id == job_id, Job.run_token == run_token, Job.status == JobStatus.RUNNING
    )


async def beat(session: AsyncSession, job_id: uuid.UUID, *, run_token: uuid.UUID) -> bool:
    result = await session.execute(_fenced(job_id, run_token).values(heartbeat_at=func.now()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_progress(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    run_token: uuid.UUID,
    done: int,
    total: int | None,
    phase: str | None,
) -> None:
    values: dict[str, Any] = {"progress_done": done, "heartbeat_at": func.now()}
    if total is not None:
        values["progress_total"] = total
    if phase is not None:
        values["phase"] = phase
    await session.execute(_fenced(job_id, run_token).values(**values))


async def finish_job(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    run_token: uuid.UUID,
    status: JobStatus,
    counts: dict[str, Any],
    errors: list[dict[str, Any]],
    result: dict[str, Any] | None,
) -> bool:
    """Record the final outcome; False if this run no longer owns the job."""
    outcome = await session.execute(
        _fenced(job_id, run_token).values(
            status=status,
            counts=counts,
            errors=Job.errors.op("||")(errors) if errors else Job.errors,
            result=result,
            finished_at=func.now(),
            phase=None if status == JobStatus.SUCCEEDED else Job.phase,
        )
    )
    return bool(outcome.rowcount)  # type: ignore[attr-defined]


async def release_for_retry(
    session: AsyncSession, job_id: uuid.UUID, *, run_token: uuid.UUID, error: dict[str, Any]
) -> bool:
    """Put the job back to `queued` after a retryable failure, keeping the error on record."""
    outcome = await session.execute(
        _fenced(job_id, run_token).values(
            status=JobStatus.QUEUED, errors=Job.errors.op("||")([error]), run_token=None
        )
    )
    return bool(outcome.rowcount)  # type: ignore[attr-defined]


async def mark_stale_interrupted(
    session: AsyncSession, *, stale_before: dt.datetime
) -> list[tuple[uuid.UUID, str]]:
    """Running jobs whose heartbeat stopped become `interrupted`; returns (id, kind) of each."""
    statement = (
        update(Job)
        .where(Job.status == JobStatus.RUNNING, Job.heartbeat_at < stale_before)
        .values(status=JobStatus.INTERRUPTED, run_token=None)
        .returning(Job.id, Job.kind)
    )
    return [(row.id, row.kind) for row in await session.execute(statement)]


async def unfinished_jobs(
    session: AsyncSession, *, idle_since: dt.datetime, limit: int | None = None
) -> list[tuple[uuid.UUID, str]]:
    """Queued or interrupted jobs untouched since `idle_since`, longest idle first (at most
    `limit`): candidates to enqueue again."""
    statement = (
        select(Job.id, Job.kind)
        .where(
            Job.status.in_([JobStatus.QUEUED, JobStatus.INTERRUPTED]), Job.updated_at < idle_since
        )
        .order_by(Job.updated_at)
        .limit(limit)
    )
    return [(row.id, row.kind) for row in await session.execute(statement)]


async def holds_run(session: AsyncSession, job_id: uuid.UUID, *, run_token: uuid.UUID) -> bool:
    """Whether `run_token` is still the job's live run. Share-locks the row until the
    transaction ends, so work committed with it cannot land after a takeover; several
    writers of the run may hold it at once (so they must not update the job row)."""
    statement = (
        select(Job.id)
        .where(Job.id == job_id, Job.run_token == run_token, Job.status == JobStatus.RUNNING)
        .with_for_update(read=True)
    )
    return await session.scalar(statement) is not None


@dataclass(frozen=True, slots=True)
class DeduplicatedJob:
    """A job to create unless a job with `dedupe_key` ever existed."""

    kind: str
    dedupe_key: str
    company_id: str | None
    connection_id: uuid.UUID | None
    params: dict[str, Any]


async def create_many_deduplicated_jobs(
    session: AsyncSession, jobs: Sequence[DeduplicatedJob]
) -> list[Job]:
    """Create each job unless a job with its dedupe key ever existed (concurrent callers
    create each once): one INSERT per `_ROWS_PER_INSERT` jobs, in the order of their keys,
    so concurrent callers wait for each other's keys in one order and never deadlock;
    returns the jobs created now."""
    unique = sorted({job.dedupe_key: job for job in jobs}.values(), key=_by_key)
    rows = [_queued_row(job, dedupe_key=job.dedupe_key) for job in unique]
    created: list[Job] = []
    for chunk in _chunks(rows):
        statement = (
            insert(Job)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Job)
        )
        created += (await session.execute(statement)).scalars()
    return created


def _by_key(job: DeduplicatedJob) -> str:
    return job.dedupe_key


async def narrow_params(session: AsyncSession, params: dict[uuid.UUID, dict[str, Any]]) -> None:
    """Replace the params of the jobs (id → params) in one UPDATE per `_ROWS_PER_INSERT`;
    the session's objects of those jobs are refreshed."""
    rows = [{"id": job_id, "params": value} for job_id, value in sorted(params.items())]
    for chunk in _chunks(rows):
        narrowed = values(column("id", Uuid), column("params", JSONB), name="narrowed").data(
            [(row["id"], row["params"]) for row in chunk]
        )
        statement = (
            update(Job)
            .where(Job.id == narrowed.c.id)
            .values(params=narrowed.c.params)
            .returning(Job)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        await session.execute(statement)


async def delete_jobs(session: AsyncSession, job_ids: Sequence[uuid.UUID]) -> None:
    """Delete the jobs (never started) in one DELETE per `_ROWS_PER_INSERT`."""
    ordered = sorted(job_ids)
    for start in range(0, len(ordered), _ROWS_PER_INSERT):
        chunk = ordered[start : start + _ROWS_PER_INSERT]
        await session.execute(delete(Job).where(Job.id.in_(chunk)))


# Rows per multi-row INSERT: a statement carries at most 32,767 bind parameters (asyncpg),
# and a job row takes 13.
_ROWS_PER_INSERT = 1000


def _queued_row(job: DeduplicatedJob | SingleflightJob, **key: str) -> dict[str, Any]:
    """A new queued job's row for a multi-row INSERT, with its dedupe or single-flight key
    and the request id of the work in hand."""
    return {
        "id": uuid.uuid4(),
        "kind": job.kind,
        "status": JobStatus.QUEUED,
        "company_id": job.company_id,
        "connection_id": job.connection_id,
        "params": job.params,
        "counts": {},
        "errors": [],
        "request_id": correlation.REQUEST_ID.get(),
        "progress_done": 0,
        "attempts": 0,
        **key,
    }


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        yield rows[start : start + _ROWS_PER_INSERT]


@dataclass(frozen=True, slots=True)
class SingleflightJob:
    """A job to create unless an unfinished one holds `singleflight_key`."""

    kind: str
    singleflight_key: str
    company_id: str | None
    connection_id: uuid.UUID | None
    params: dict[str, Any]


async def create_singleflight_jobs(
    session: AsyncSession, jobs: Sequence[SingleflightJob]
) -> list[Job]:
    """`create_singleflight_job` for many jobs in one INSERT per `_ROWS_PER_INSERT`:
    creates each job whose key no unfinished job holds; returns the jobs created now (the
    partial unique index decides under concurrency)."""
    unique = {job.singleflight_key: job for job in jobs}.values()
    rows = [_queued_row(job, singleflight_key=job.singleflight_key) for job in unique]
    created: list[Job] = []
    for chunk in _chunks(rows):
        statement = (
            insert(Job)
            .values(chunk)
            .on_conflict_do_nothing(
                index_elements=["singleflight_key"], index_where=_ACTIVE_PREDICATE
            )
            .returning(Job)
        )
        created += (await session.execute(statement)).scalars()
    return created


async def clear_dedupe_key(session: AsyncSession, job_id: uuid.UUID) -> None:
    """Free the job's dedupe key (it stays in the job's history as `params`): the same
    work may be created again."""
    await session.execute(update(Job).where(Job.id == job_id).values(dedupe_key=None))
