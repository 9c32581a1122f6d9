"""The scheduled import's reads, per Directo database: which are due, and their jobs.

Clients whose statistics come from one Directo database — the company's, for clients linked
to its customers; a client's own — share each scheduled read of a month: one
`statistics_import` job per (company, database, month, read kind) reads it for all of them
(the read planner reads each feed once for the whole database where that is cheaper).

Each client's read is claimed in `statistics_reads` when its job is created, so it is created
once whichever tick or worker gets there. The job's dedupe key (unique in `jobs`) is
deterministic: `statistics:<company>:<connection>:<YYYY-MM>:<read>`, with a digest of the
client ids appended when some of that database's clients were read for that month already
(a client linked later, or one whose country's import day came earlier) — two ticks at once
still compute the same key and create the job once.

A tick costs a fixed number of SQL statements whatever the fleet's size — at month-end,
hundreds of companies and thousands of clients: one query each for the settings, the
clients' sources and the reads created since the look-back began, one multi-row INSERT per
thousand jobs and one INSERT claiming every read (plus, only when ticks raced, one UPDATE
narrowing jobs and one DELETE). The caller queues the jobs within the queue's cap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import StatisticsSettings
from app.db.models import Job, StatisticsRead, SummarySettings
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.db.repositories import statistics_reads as reads_repo
from app.queue.names import JobName
from app.statistics.compute import supported_keys
from app.statistics.fields import Scope
from app.statistics.import_days import (
    BALTIC_TIME,
    LOOKBACK_MONTHS,
    ImportDayRule,
    add_months,
    first_of_month,
)
from app.statistics.read_times import DueRead, due_reads
from app.statistics.sources import ClientSource, scheduled_sources
from app.statistics.storage import mapped_keys, month_key


@dataclass(frozen=True, slots=True)
class ReadGroup:
    """The clients of a company whose `read` of `month` from one Directo database is due
    since `due_at`; `created` are those whose read a job was already created for."""

    company_id: str
    connection_id: uuid.UUID
    own_client_id: str | None  # whose own database it is; None: the company's database
    month: dt.date
    read: StatisticsRead
    due_at: dt.datetime
    client_ids: tuple[str, ...]
    created: frozenset[str]

    @property
    def database(self) -> str:
        return "company" if self.own_client_id is None else f"client {self.own_client_id}"

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(client for client in self.client_ids if client not in self.created)


async def due_groups(
    session: AsyncSession, *, until: dt.datetime, timing: StatisticsSettings
) -> list[ReadGroup]:
    """Every read due by `until` (aware), created or not, grouped per company, database,
    month, read and due time; ordered by company, month, read, due time and database.

    Reads the whole fleet in a fixed number of queries (the settings, the clients' sources,
    the reads created since the look-back began), whatever the number of companies."""
    companies = await statistics_repo.scheduled_companies(session)
    sources = await scheduled_sources(session)
    since = add_months(first_of_month(until.astimezone(BALTIC_TIME).date()), -LOOKBACK_MONTHS - 1)
    created = await reads_repo.created_reads(session, since=since)
    groups: list[ReadGroup] = []
    for settings in companies:
        keys = mapped_keys(settings.field_mapping)
        company_sources = sources.get(settings.company_id, {})
        if keys and company_sources:
            groups += _company_groups(
                settings, keys, company_sources, created, until=until, timing=timing
            )
    return sorted(
        groups,
        key=lambda g: (g.company_id, g.month, g.read, g.due_at, g.database, str(g.connection_id)),
    )


def _company_groups(
    settings: SummarySettings,
    keys: list[str],
    sources: dict[str, ClientSource],
    created: set[reads_repo.ReadKey],
    *,
    until: dt.datetime,
    timing: StatisticsSettings,
) -> list[ReadGroup]:
    company_id = settings.company_id
    rule = ImportDayRule(settings.import_day_rule)
    not_before = settings.created_at.astimezone(BALTIC_TIME).date()
    buckets: defaultdict[tuple[uuid.UUID, dt.date, StatisticsRead, dt.datetime], list[str]]
    buckets = defaultdict(list)
    own: dict[uuid.UUID, str | None] = {}
    # The reads due depend only on the client's country here, and what can be read on its
    # scope: worked out once per company, not once per client.
    reads_in: dict[str, list[DueRead]] = {}
    readable: dict[Scope, bool] = {}
    for source in sources.values():
        if source.scope not in readable:
            readable[source.scope] = bool(supported_keys(keys, source.scope))
        if not readable[source.scope]:
            continue  # nothing mapped that this client's scope offers: nothing to read
        own[source.connection.id] = _own_client(source)
        if source.country not in reads_in:
            reads_in[source.country] = due_reads(
                until,
                rule=rule,
                day=settings.import_day,
                country=source.country,
                not_before=not_before,
                timing=timing,
            )
        for due in reads_in[source.country]:
            buckets[(source.connection.id, due.month, due.read, due.due_at)].append(
                source.client_id
            )
    return [
        ReadGroup(
            company_id=company_id,
            connection_id=connection_id,
            own_client_id=own[connection_id],
            month=month,
            read=read,
            due_at=due_at,
            client_ids=tuple(sorted(clients)),
            created=frozenset(c for c in clients if (company_id, c, month, read) in created),
        )
        for (connection_id, month, read, due_at), clients in buckets.items()
    ]


def _own_client(source: ClientSource) -> str | None:
    return source.client_id if source.connection.client_id is not None else None


def dedupe_key(
    company_id: str,
    connection_id: uuid.UUID,
    month: dt.date,
    read: StatisticsRead,
    *,
    client_ids: Iterable[str] | None = None,
) -> str:
    """The job's dedupe key; `client_ids` (a later batch of the same database's month) are
    folded into a digest."""
    key = f"statistics:{company_id}:{connection_id}:{month_key(month)}:{read.value}"
    if client_ids is None:
        return key
    digest = hashlib.sha256("\n".join(sorted(client_ids)).encode()).hexdigest()[:16]
    return f"{key}:{digest}"


async def create_read_jobs(session: AsyncSession, groups: Iterable[ReadGroup]) -> list[Job]:
    """Create (not enqueue) one job per company, database, month and read for the groups'
    clients whose read was not created yet, and claim those reads; returns the jobs created
    now, in the order of their keys (the caller commits, then enqueues them). Idempotent and
    safe under concurrency; a fixed number of statements whatever the number of companies
    (one multi-row INSERT per thousand jobs and one per several thousand reads).

    A job whose reads another tick claimed first (it saw other clients, so computed another
    key) is narrowed to the reads it claimed, or deleted when it claimed none."""
    pending: defaultdict[tuple[str, uuid.UUID, dt.date, StatisticsRead], set[str]]
    pending = defaultdict(set)
    earlier: set[tuple[str, uuid.UUID, dt.date, StatisticsRead]] = set()
    for group in groups:
        batch = (group.company_id, group.connection_id, group.month, group.read)
        pending[batch].update(group.pending)
        if group.created:
            earlier.add(batch)
    wanted: list[job_repo.DeduplicatedJob] = []
    for batch, clients in pending.items():
        if not clients:
            continue
        company_id, connection_id, month, read = batch
        key = dedupe_key(
            company_id, connection_id, month, read, client_ids=clients if batch in earlier else None
        )
        params = {
            "connection_id": str(connection_id),
            "month": month.isoformat(),
            "read": read.value,
            "client_ids": sorted(clients),
        }
        wanted.append(
            job_repo.DeduplicatedJob(
                kind=JobName.STATISTICS_IMPORT.value,
                dedupe_key=key,
                company_id=company_id,
                connection_id=connection_id,
                params=params,
            )
        )
    if not wanted:
        return []
    jobs = await job_repo.create_many_deduplicated_jobs(session, wanted)
    return sorted(await _claim(session, jobs), key=lambda job: job.dedupe_key or "")


async def _claim(session: AsyncSession, jobs: list[Job]) -> list[Job]:
    """Claim the jobs' reads in bulk; narrow each job to the clients claimed now, or delete
    it when other jobs claimed them all; returns the jobs kept."""
    claims = [claim for job in jobs for claim in _claims_of(job)]
    claimed = await reads_repo.claim_reads(session, claims)
    kept: list[Job] = []
    narrowed: dict[uuid.UUID, dict[str, object]] = {}
    emptied: list[uuid.UUID] = []
    for job in jobs:
        mine = [claim.client_id for claim in _claims_of(job) if claim.key in claimed]
        if not mine:
            emptied.append(job.id)
            continue
        kept.append(job)
        if len(mine) < len(job.params["client_ids"]):
            narrowed[job.id] = {**job.params, "client_ids": sorted(mine)}
    if narrowed:
        await job_repo.narrow_params(session, narrowed)
    if emptied:
        await job_repo.delete_jobs(session, emptied)
    return kept


def _claims_of(job: Job) -> list[reads_repo.ReadClaim]:
    params = job.params
    assert job.company_id is not None
    month = dt.date.fromisoformat(str(params["month"]))
    read = StatisticsRead(str(params["read"]))
    return [
        reads_repo.ReadClaim(
            company_id=job.company_id,
            client_id=str(client),
            month=month,
            read=read,
            connection_id=job.connection_id,
            job_id=job.id,
        )
        for client in params["client_ids"]
    ]
