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
from app.statistics.import_days import (
    BALTIC_TIME,
    LOOKBACK_MONTHS,
    ImportDayRule,
    add_months,
    first_of_month,
)
from app.statistics.read_times import due_reads
from app.statistics.sources import ClientSource, company_sources
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
    month, read and due time; ordered by company, month, read, due time and database."""
    groups: list[ReadGroup] = []
    for settings in await statistics_repo.scheduled_companies(session):
        keys = mapped_keys(settings.field_mapping)
        if keys:
            groups += await _company_groups(session, settings, keys, until=until, timing=timing)
    return sorted(
        groups,
        key=lambda g: (g.company_id, g.month, g.read, g.due_at, g.database, str(g.connection_id)),
    )


async def _company_groups(
    session: AsyncSession,
    settings: SummarySettings,
    keys: list[str],
    *,
    until: dt.datetime,
    timing: StatisticsSettings,
) -> list[ReadGroup]:
    company_id = settings.company_id
    rule = ImportDayRule(settings.import_day_rule)
    not_before = settings.created_at.astimezone(BALTIC_TIME).date()
    since = add_months(first_of_month(until.astimezone(BALTIC_TIME).date()), -LOOKBACK_MONTHS - 1)
    created = await reads_repo.created_reads(session, company_id, since=since)
    buckets: defaultdict[tuple[uuid.UUID, dt.date, StatisticsRead, dt.datetime], list[str]]
    buckets = defaultdict(list)
    own: dict[uuid.UUID, str | None] = {}
    for source in (await company_sources(session, company_id)).values():
        if not supported_keys(keys, source.scope):
            continue  # nothing mapped that this client's scope offers: nothing to read
        own[source.connection.id] = _own_client(source)
        for due in due_reads(
            until,
            rule=rule,
            day=settings.import_day,
            country=source.country,
            not_before=not_before,
            timing=timing,
        ):
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
            created=frozenset(c for c in clients if (c, month, read) in created),
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
    now (the caller commits, then enqueues them). Idempotent and safe under concurrency."""
    pending: defaultdict[tuple[str, uuid.UUID, dt.date, StatisticsRead], set[str]]
    pending = defaultdict(set)
    earlier: set[tuple[str, uuid.UUID, dt.date, StatisticsRead]] = set()
    for group in groups:
        batch = (group.company_id, group.connection_id, group.month, group.read)
        pending[batch].update(group.pending)
        if group.created:
            earlier.add(batch)
    by_company: defaultdict[str, dict[str, dict[str, object]]] = defaultdict(dict)
    for batch, clients in pending.items():
        if not clients:
            continue
        company_id, connection_id, month, read = batch
        key = dedupe_key(
            company_id, connection_id, month, read, client_ids=clients if batch in earlier else None
        )
        by_company[company_id][key] = {
            "connection_id": str(connection_id),
            "month": month.isoformat(),
            "read": read.value,
            "client_ids": sorted(clients),
        }
    created: list[Job] = []
    for company_id, jobs in by_company.items():
        for job in await job_repo.create_deduplicated_jobs(
            session, kind=JobName.STATISTICS_IMPORT.value, company_id=company_id, jobs=jobs
        ):
            if await _claim(session, job):
                created.append(job)
    return created


async def _claim(session: AsyncSession, job: Job) -> bool:
    """Claim the job's reads; narrow it to the clients claimed now, or delete it when another
    job (created by a tick that saw other clients) claimed them all."""
    params = dict(job.params)
    assert job.company_id is not None
    connection_id = uuid.UUID(str(params["connection_id"]))
    clients = [str(client) for client in params["client_ids"]]
    claimed = await reads_repo.claim_reads(
        session,
        company_id=job.company_id,
        month=dt.date.fromisoformat(str(params["month"])),
        read=StatisticsRead(str(params["read"])),
        client_ids=clients,
        job_id=job.id,
        connection_id=connection_id,
    )
    if not claimed:
        await session.delete(job)
        await session.flush()
        return False
    if len(claimed) < len(clients):
        job.params = {**params, "client_ids": sorted(claimed)}
    job.connection_id = connection_id
    return True
