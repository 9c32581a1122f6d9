"""Scheduled monthly statistics: the hourly tick and the `statistics_import` job.

The tick creates the reads that are due (`read_times`: a month is first read after its
import day has ended in the client's local time, and read again days later to settle it),
one job per company, Directo database, month and read kind for all the clients it serves
(`scheduled_reads`: each client's read is claimed once, whichever tick or worker gets
there). The job reads the month for its clients through the read planner — each feed once
for the whole database where that is cheaper — overwrites each client's month whole and
announces `statistics.imported` per client, saying which read it was (`first`/`settle`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import StatisticsSettings
from app.connections.reporting import reporting_health
from app.connections.service import credentials_of
from app.db.models import Job, StatisticsRead
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.db.repositories import statistics_reads as reads_repo
from app.jobs.runner import Failure, JobContext, JobFailed, JobOutcome
from app.statistics.compute import supported_keys
from app.statistics.directo_reads import read_statistics_for_sources
from app.statistics.scheduled_reads import create_read_jobs, due_groups
from app.statistics.sources import ClientSource, company_sources
from app.statistics.storage import event_values, mapped_keys, month_key, store_months
from app.webhooks.types import EventType

log = structlog.get_logger(__name__)

CLIENTS_PER_WRITE = 250


async def start_due_imports(
    session: AsyncSession, *, timing: StatisticsSettings, now: dt.datetime | None = None
) -> list[Job]:
    """Create the statistics reads due at `now` that were never created, for every
    scheduled company in a fixed number of statements (`scheduled_reads`); the caller
    commits and enqueues the jobs returned (within the queue's cap)."""
    now = now or dt.datetime.now(dt.UTC)
    return await create_read_jobs(session, await due_groups(session, until=now, timing=timing))


@dataclass(frozen=True, slots=True)
class _ReadJob:
    month: dt.date
    read: StatisticsRead
    client_ids: list[str]
    single: bool  # a job of one client (as created before reads were per database)


def _read_job(params: dict[str, object]) -> _ReadJob:
    month = dt.date.fromisoformat(str(params["month"]))
    if "client_ids" in params:
        clients = params["client_ids"]
        assert isinstance(clients, list)
        read = StatisticsRead(str(params.get("read", StatisticsRead.FIRST.value)))
        return _ReadJob(month, read, [str(client) for client in clients], single=False)
    return _ReadJob(month, StatisticsRead.FIRST, [str(params["client_id"])], single=True)


async def import_month(context: JobContext) -> JobOutcome:
    """The `statistics_import` job: read one month for its clients and overwrite it.

    Clients are read from the database their statistics come from now (normally the one the
    job was created for). A client no longer linked nor connected is skipped
    (`clients_skipped`) and its read released (a tick creates it again if the client is
    linked again while the read is due); a one-client job fails `client_not_connected`
    then. A Directo failure fails the whole job (retried when retryable), writing nothing.
    """
    company_id = context.job.company_id
    assert company_id is not None
    job = _read_job(context.params)
    session = context.session
    settings = await statistics_repo.get_summary_settings(session, company_id)
    field_mapping = dict(settings.field_mapping) if settings else {}
    sources = await company_sources(session, company_id)
    missing = [client for client in job.client_ids if client not in sources]
    if job.single and missing:
        raise JobFailed(
            "client_not_connected",
            f"Client {missing[0]!r} is neither linked to a Directo customer nor has its own "
            "connection.",
        )
    by_database: defaultdict[uuid.UUID, list[ClientSource]] = defaultdict(list)
    for client in job.client_ids:
        if client in sources:
            by_database[sources[client].connection.id].append(sources[client])
    mapped = mapped_keys(field_mapping)
    imported: list[str] = []
    if missing:  # unlinked since: a later tick reads them if they are linked again
        await reads_repo.release_unfinished(session, context.job.id, client_ids=missing)
    # Committed here: no database connection held while Directo (its budget) is awaited.
    await context.release_connection()
    for database in by_database.values():
        keys = supported_keys(mapped, database[0].scope)
        if keys:
            imported += await _import_database(context, database, job, keys, field_mapping)
    return JobOutcome(
        counts={"clients": len(imported), "clients_skipped": len(missing), "fields": len(mapped)},
        result={"month": month_key(job.month), "read": job.read.value},
    )


async def _import_database(
    context: JobContext,
    sources: list[ClientSource],
    job: _ReadJob,
    keys: list[str],
    field_mapping: dict[str, object],
) -> list[str]:
    """Read the month for the clients of one database, store and announce each; returns
    their ids."""
    company_id = context.job.company_id
    assert company_id is not None
    connection = sources[0].connection
    limit = context.resources.settings.directo.max_concurrency_per_connection
    async with reporting_health(context, connection.id):
        tallies = await read_statistics_for_sources(
            context.resources.directo,
            credentials_of(connection, context.resources.secrets),
            sources,
            first=job.month,
            last=job.month,
            keys=keys,
            limiter=asyncio.Semaphore(limit),
        )
    month = month_key(job.month)
    # In slices: a firm's thousand clients cost a few statements per slice, and the rows
    # and events built at once stay bounded whatever the firm's size.
    for start in range(0, len(sources), CLIENTS_PER_WRITE):
        chunk = sources[start : start + CLIENTS_PER_WRITE]
        values_by_client = {
            source.client_id: tallies[source.client_id].values(keys) for source in chunk
        }
        await store_months(
            context.session,
            company_id=company_id,
            values_by_client=values_by_client,
            field_mapping=field_mapping,
            job_id=context.job.id,
        )
        await context.emit_many(
            EventType.STATISTICS_IMPORTED,
            [
                {
                    "client_id": source.client_id,
                    "month": month,
                    "read": job.read.value,
                    **source.description,
                    "values": event_values(
                        values_by_client[source.client_id][job.month], field_mapping
                    ),
                }
                for source in chunk
            ],
        )
    clients = [source.client_id for source in sources]
    await reads_repo.complete_reads(
        context.session,
        company_id=company_id,
        month=job.month,
        read=job.read,
        client_ids=clients,
        job_id=context.job.id,
        connection_id=connection.id,
    )
    return clients


async def import_failed(session: AsyncSession, job: Job, failure: Failure) -> None:
    """The job gave up (in its failing transaction). When Directo (or the database) was
    still away after every attempt, its clients' reads are released: the next hourly tick
    creates them again, so a month-end during an outage is read once Directo answers. A
    failure for good (a refused token, a decode error) keeps them: retrying hourly would
    only repeat it — a reload reads those months once the cause is fixed."""
    if not failure.gave_up:
        return
    released = await reads_repo.release_unfinished(session, job.id)
    await job_repo.clear_dedupe_key(session, job.id)
    log.warning("statistics_reads_released", job_id=str(job.id), reads=released)
