"""The scheduled statistics import stores and announces a database's clients in bulk: its SQL
statements (counted on the engine) are as many for 150 clients as for 10, and every client's
month and event is still there, each event numbered in order."""

from __future__ import annotations

import datetime as dt

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.db.models import Event, Job, MonthlyStatistic, WebhookDelivery
from app.directo.sandbox import SandboxState
from app.jobs.runner import run_tracked_job
from app.resources import Resources
from app.statistics import monthly_import
from app.statistics.import_days import add_months, first_of_month, local_today
from app.statistics.jobs import STATISTICS_IMPORT
from tests.support.statements import counted_statements
from tests.support.statistics import (
    BASE,
    COMPANY,
    busiest_customers,
    link_clients,
    schedule_from,
    set_up_company,
    tick,
)

MONTH = add_months(first_of_month(local_today()), -1)


def _numbered(codes: list[str], numbers: range) -> dict[str, str]:
    return {f"c-{n:03}": codes[n] for n in numbers}


async def _import_due(db: Resources, now: dt.datetime) -> tuple[Job, int]:
    """Create the due read (one job for the clients not read yet) and run it in-process;
    the job and the statements its run sent."""
    (job,) = await tick(db, now)
    with counted_statements(db) as sent:
        await run_tracked_job(db, STATISTICS_IMPORT, job.id)
    return job, len(sent)


@pytest.mark.slow
async def test_a_month_end_of_150_clients_costs_the_statements_of_10(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    assert monthly_import.CLIENTS_PER_WRITE >= 150  # one slice each (see the test below)
    await set_up_company(client, db, links={})
    await client.post(
        f"/v1/companies/{COMPANY}/webhook-endpoints", json={"url": "http://127.0.0.1:9/"}
    )
    codes = busiest_customers(sandbox, 160)
    due = (await schedule_from(db, MONTH)).first + dt.timedelta(minutes=5)

    await link_clients(db, _numbered(codes, range(10)))
    small, small_statements = await _import_due(db, due)
    await link_clients(
        db, _numbered(codes, range(10, 160))
    )  # the next tick reads the 150 new clients
    large, large_statements = await _import_due(db, due)

    assert len(small.params["client_ids"]) == 10
    assert len(large.params["client_ids"]) == 150
    assert large_statements == small_statements, (small_statements, large_statements)
    assert large_statements <= 30
    async with db.sessionmaker() as session:
        jobs = [await session.get(Job, job.id) for job in (small, large)]
        assert [job.status.value for job in jobs if job] == ["succeeded", "succeeded"]
        assert [job.counts["clients"] for job in jobs if job] == [10, 150]
        stored = await session.execute(
            select(MonthlyStatistic.client_id, func.count())
            .where(MonthlyStatistic.month == MONTH)
            .group_by(MonthlyStatistic.client_id)
        )
        rows_per_client = {str(row[0]): int(row[1]) for row in stored}
        announced = select(Event).where(Event.type == "statistics.imported")
        events = (await session.scalars(announced.order_by(Event.sequence))).all()
        deliveries = await session.scalar(select(func.count()).select_from(WebhookDelivery))
    first = events[0].sequence  # after the customer import's event
    assert [event.sequence for event in events] == list(range(first, first + 160))
    assert [event.payload["client_id"] for event in events] == [f"c-{n:03}" for n in range(160)]
    assert {event.job_id for event in events} == {small.id, large.id}
    assert deliveries == 160  # one per event to the company's endpoint
    # Every client's month stored whole: a row per value its event announces.
    assert rows_per_client == {
        event.payload["client_id"]: len(event.payload["values"]) for event in events
    }
    assert min(rows_per_client.values()) > 0
    sums = (await client.get(f"{BASE}/clients/c-159/directo/statistics")).status_code
    assert sums == 200


@pytest.mark.slow
async def test_a_large_firm_is_written_in_slices_each_a_few_statements(
    client: AsyncClient, db: Resources, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monthly_import, "CLIENTS_PER_WRITE", 64)
    await set_up_company(client, db, links={})
    codes = busiest_customers(sandbox, 150)
    due = (await schedule_from(db, MONTH)).first + dt.timedelta(minutes=5)
    await link_clients(db, _numbered(codes, range(10)))
    _, one_slice = await _import_due(db, due)
    await link_clients(db, _numbered(codes, range(10, 150)))
    _, three_slices = await _import_due(db, due)  # 140 clients: 64 + 64 + 12

    # Each further slice: the months' delete and insert; the events' numbers, insert and
    # subscribers (no endpoint here: no deliveries to insert).
    assert three_slices == one_slice + 2 * 5, (one_slice, three_slices)
    async with db.sessionmaker() as session:
        announced = select(Event).where(Event.type == "statistics.imported")
        events = (await session.scalars(announced.order_by(Event.sequence))).all()
        stored = await session.scalar(
            select(func.count(func.distinct(MonthlyStatistic.client_id))).where(
                MonthlyStatistic.month == MONTH
            )
        )
    assert [event.payload["client_id"] for event in events] == [f"c-{n:03}" for n in range(150)]
    first = events[0].sequence
    assert [event.sequence for event in events] == list(range(first, first + 150))
    assert stored == 150
