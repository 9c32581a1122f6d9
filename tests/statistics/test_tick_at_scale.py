"""The hourly statistics tick over a month-end fleet: every company's reads are worked out
and created in a fixed handful of SQL statements (counted on the engine) — the same number
for 20 companies as for 200 — each read once even with two ticks at once, and never more
than `sync.max_queued_jobs` jobs pushed into Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, insert, select

from app.db.models import (
    Client,
    ClientLink,
    Connection,
    ConnectionScope,
    Integration,
    Job,
    StatisticsRead,
    StatisticsReadRecord,
    SummarySettings,
)
from app.queue.names import JobName
from app.resources import Resources
from app.security.contexts import token_context
from app.statistics.import_days import ImportDayRule, add_months, first_of_month, local_today
from app.statistics.monthly_import import start_due_imports
from app.statistics.read_times import due_reads
from app.statistics.scheduled_reads import create_read_jobs, due_groups
from app.worker.crons import import_statistics
from tests.support.statements import counted_statements
from tests.support.statistics import MAPPING

CLIENTS = 15  # per company
OWN_EVERY = 10  # every 10th company: its first client reads its own Directo database
QUEUE_CAP = 40
MONTH = add_months(first_of_month(local_today()), -1)  # the settings date from its start

# A database's expected job: (company, connection id) → its clients.
Expected = dict[tuple[str, str], list[str]]


async def add_fleet(db: Resources, companies: range) -> Expected:
    """Enabled companies with summary settings dated from `MONTH`, a company connection and
    `CLIENTS` clients each (every other one in Latvia), inserted in bulk."""
    integrations, settings, connections, clients, links = [], [], [], [], []
    expected: Expected = {}

    def connection(company: str, client: str | None) -> uuid.UUID:
        connection_id = uuid.uuid4()
        sealed = db.secrets.seal("t", context=token_context(connection_id))
        connections.append(
            {
                "id": connection_id,
                "company_id": company,
                "client_id": client,
                "scope": ConnectionScope.COMPANY if client is None else ConnectionScope.CLIENT,
                "token_encrypted": sealed.ciphertext,
                "token_key_id": sealed.key_id,
                "token_hint": "t",
            }
        )
        return connection_id

    for n in companies:
        company = f"fleet-{n:04d}"
        integrations.append({"id": uuid.uuid4(), "company_id": company, "enabled": True})
        settings.append(
            {
                "company_id": company,
                "task_title": "Kuu kokkuvõte",
                "import_day_rule": ImportDayRule.LAST_CALENDAR_DAY.value,
                "field_mapping": MAPPING,
                "created_at": dt.datetime.combine(MONTH, dt.time(), dt.UTC),
            }
        )
        shared = connection(company, None)
        for c in range(CLIENTS):
            client = f"client-{c:02d}"
            clients.append(
                {"id": uuid.uuid4(), "company_id": company, "client_id": client,
                 "country": "LV" if c % 2 else "EE"}
            )  # fmt: skip
            if c == 0 and n % OWN_EVERY == 0:
                expected[(company, str(connection(company, client)))] = [client]
                continue
            links.append(
                {"id": uuid.uuid4(), "company_id": company, "client_id": client,
                 "customer_code": f"K{c:06d}", "connection_id": shared}
            )  # fmt: skip
            expected.setdefault((company, str(shared)), []).append(client)
    async with db.sessionmaker() as session, session.begin():
        for model, rows in [
            (Integration, integrations),
            (SummarySettings, settings),
            (Connection, connections),
            (Client, clients),
            (ClientLink, links),
        ]:
            await session.execute(insert(model), rows)
    return expected


def capped(db: Resources) -> dict[str, Any]:
    """The cron's context, with room for `QUEUE_CAP` jobs in Redis."""
    sync = db.settings.sync.model_copy(update={"max_queued_jobs": QUEUE_CAP})
    return {
        "resources": dataclasses.replace(db, settings=db.settings.model_copy(update={"sync": sync}))
    }


async def created_jobs(db: Resources) -> Expected:
    async with db.sessionmaker() as session:
        jobs = await session.scalars(select(Job).where(Job.kind == JobName.STATISTICS_IMPORT))
        return {
            (str(job.company_id), str(job.connection_id)): job.params["client_ids"] for job in jobs
        }


async def claimed_reads(db: Resources) -> int:
    async with db.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(StatisticsReadRecord))
    return int(count or 0)


def due_read_kind(db: Resources) -> str:
    """What the tick reads of `MONTH` now: its first read, or its settle read once due."""
    (due,) = due_reads(
        dt.datetime.now(dt.UTC),
        rule=ImportDayRule.LAST_CALENDAR_DAY,
        not_before=MONTH,
        timing=db.settings.statistics,
    )
    assert due.month == MONTH
    return due.read.value


async def test_the_tick_creates_a_month_end_in_the_same_few_statements_at_any_size(
    db: Resources,
) -> None:
    ctx = capped(db)
    small = await add_fleet(db, range(20))
    with counted_statements(db) as statements:
        assert await import_statistics(ctx) == len(small) == 22
    at_small = len(statements)
    # Settings, sources (3), created reads; one INSERT of jobs and one of claims.
    assert at_small <= 8, statements
    assert await created_jobs(db) == small
    assert await db.queue.waiting() == len(small)  # room for all of them

    # Ten times the fleet (3,000 clients): the same statements, none per company.
    large = await add_fleet(db, range(20, 200))
    with counted_statements(db) as statements:
        assert await import_statistics(ctx) == len(large) == 198
    assert len(statements) == at_small, statements
    jobs = await created_jobs(db)
    assert jobs == small | large
    assert sum(len(clients) for clients in jobs.values()) == 200 * CLIENTS
    assert await claimed_reads(db) == 200 * CLIENTS
    async with db.sessionmaker() as session:
        reads = set(await session.scalars(select(Job.params["read"].astext)))
        months = set(await session.scalars(select(Job.params["month"].astext)))
    assert (reads, months) == ({due_read_kind(db)}, {MONTH.isoformat()})
    # The rest wait in PostgreSQL for the watchdog; Redis holds no more than its cap.
    assert await db.queue.waiting() == QUEUE_CAP

    # The next tick finds every read created: nothing new, still a fixed few statements.
    with counted_statements(db) as statements:
        assert await import_statistics(ctx) == 0
    assert len(statements) <= at_small, statements
    assert await created_jobs(db) == small | large


async def test_two_ticks_at_once_over_the_fleet_create_each_read_once(db: Resources) -> None:
    expected = await add_fleet(db, range(200))
    now = dt.datetime.now(dt.UTC)

    async def tick() -> list[Job]:
        async with db.sessionmaker() as session, session.begin():
            return await start_due_imports(session, now=now, timing=db.settings.statistics)

    first, second = await asyncio.gather(tick(), tick())
    assert len(first) + len(second) == len(expected)
    assert await created_jobs(db) == expected
    assert await claimed_reads(db) == 200 * CLIENTS


async def test_a_tick_narrows_or_drops_jobs_whose_reads_another_claimed_first(
    db: Resources,
) -> None:
    expected = await add_fleet(db, range(20))
    now = dt.datetime.now(dt.UTC)
    async with db.sessionmaker() as session, session.begin():
        groups = await due_groups(session, until=now, timing=db.settings.statistics)
    # Meanwhile another tick, which saw other clients, claimed two of these reads.
    read = StatisticsRead(due_read_kind(db))
    taken = [("fleet-0000", "client-00"), ("fleet-0001", "client-03")]
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            insert(StatisticsReadRecord),
            [{"company_id": company, "client_id": client, "month": MONTH, "read_kind": read}
             for company, client in taken],
        )  # fmt: skip

    with counted_statements(db) as statements:
        async with db.sessionmaker() as session, session.begin():
            jobs = await create_read_jobs(session, groups)
    # One INSERT of jobs, one of claims, one UPDATE narrowing, one DELETE.
    assert len(statements) <= 4, statements
    own = next(
        key
        for key, clients in expected.items()
        if key[0] == "fleet-0000" and clients == ["client-00"]
    )
    narrowed = next(key for key in expected if key[0] == "fleet-0001")
    del expected[own]  # its only read was claimed: no job
    expected[narrowed].remove("client-03")
    returned = {
        (str(job.company_id), str(job.connection_id)): job.params["client_ids"] for job in jobs
    }
    assert returned == expected
    assert await created_jobs(db) == expected
    assert await claimed_reads(db) == 20 * CLIENTS
