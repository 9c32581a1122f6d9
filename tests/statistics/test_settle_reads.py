"""The scheduled import per Directo database, and the settle read — through a real worker
against the sandbox, counting the Directo calls from the sandbox's request log."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.db.models import Event, Job, StatisticsRead, StatisticsReadRecord
from app.db.repositories import connections as connection_repo
from app.directo.sandbox import SandboxState
from app.directo.sandbox.filters import Filters
from app.queue.names import JobName
from app.resources import Resources
from app.statistics.import_days import add_months, first_of_month, local_today
from app.statistics.scheduled_reads import dedupe_key
from tests.support.helpers import run_worker_burst
from tests.support.statistics import (
    BASE,
    COMPANY,
    busiest_customers,
    link_clients,
    schedule_from,
    set_up_company,
    tick,
)

MONTH = add_months(first_of_month(local_today()), -1)  # last month: the sandbox has its data
AFTER = dt.timedelta(minutes=5)


async def _run(db: Resources, jobs: list[Job]) -> None:
    for job in jobs:
        await db.queue.enqueue(JobName.STATISTICS_IMPORT, job.id)
    await run_worker_burst(db.settings)


async def _events(db: Resources) -> list[dict[str, Any]]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == "statistics.imported").order_by(Event.sequence)
        )
        return [event.payload for event in rows]


def _invoices_of(sandbox: SandboxState, code: str, month: dt.date) -> list[dict[str, str]]:
    every = Filters.from_params({})
    return [
        attrs
        for attrs, _ in sandbox.database("demo_ee").records("invoice", every)
        if attrs["customercode"] == code and attrs["date"][:7] == month.strftime("%Y-%m")
    ]


@pytest.mark.slow
async def test_one_job_reads_a_200_client_database_month_in_at_most_4_calls_once(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={})
    codes = busiest_customers(sandbox, 200)
    await link_clients(db, {f"c-{n:03}": code for n, code in enumerate(codes)})
    async with db.sessionmaker() as session:
        company = await connection_repo.get_connection(session, COMPANY, None)
        assert company is not None
    times = await schedule_from(db, MONTH)

    # Two ticks at once (two workers), then a later one: one job in all.
    ticks = await asyncio.gather(tick(db, times.first + AFTER), tick(db, times.first + AFTER))
    (job,) = [job for jobs in ticks for job in jobs]
    assert await tick(db, times.first + 2 * AFTER) == []
    assert job.dedupe_key == dedupe_key(COMPANY, company.id, MONTH, StatisticsRead.FIRST)
    assert job.connection_id == company.id
    assert job.params == {
        "connection_id": str(company.id),
        "month": MONTH.isoformat(),
        "read": "first",
        "client_ids": [f"c-{n:03}" for n in range(200)],
    }

    sandbox.clear_requests()
    await _run(db, [job])
    calls = [entry for entry in sandbox.requests if entry.op == "get"]
    assert 1 <= len(calls) <= 4, Counter(entry.what for entry in calls)

    done = (await client.get(f"/v1/jobs/{job.id}")).json()
    assert done["status"] == "succeeded", done
    events = await _events(db)
    assert sorted(event["client_id"] for event in events) == [f"c-{n:03}" for n in range(200)]
    assert {(event["month"], event["read"]) for event in events} == {
        (MONTH.strftime("%Y-%m"), "first")
    }
    for event in events[:5]:  # the shared read counts each client's own documents
        code = codes[int(event["client_id"].removeprefix("c-"))]
        values = {value["field_key"]: value["value"] for value in event["values"]}
        assert values["sales_invoices"] == str(len(_invoices_of(sandbox, code, MONTH)))
    async with db.sessionmaker() as session:
        reads = list(await session.scalars(select(StatisticsReadRecord)))
    assert len(reads) == 200
    assert {(r.read_kind.value, r.job_id, r.completed_at is not None) for r in reads} == {
        ("first", job.id, True)
    }


@pytest.mark.slow
async def test_the_settle_read_replaces_the_first_with_late_bookings(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    code, other = busiest_customers(sandbox, 2)
    await set_up_company(client, db, links={"late-1": code, "late-2": other})
    times = await schedule_from(db, MONTH)
    assert times.settle is not None
    assert times.settle - times.first == dt.timedelta(days=6)  # the default: day 7 after

    first_jobs = await tick(db, times.first + AFTER)
    assert [(job.params["read"], job.params["client_ids"]) for job in first_jobs] == [
        ("first", ["late-1", "late-2"])
    ]
    await _run(db, first_jobs)
    query = {"from": MONTH.strftime("%Y-%m"), "to": MONTH.strftime("%Y-%m")}
    before = await _month_values(client, "late-1", query)
    other_before = await _month_values(client, "late-2", query)
    assert before["sales_invoices"] == str(len(_invoices_of(sandbox, code, MONTH)))

    # An accountant books an invoice for the month after the first read.
    template = _invoices_of(sandbox, code, MONTH)[0]
    late = dict(template, number="990001", date=f"{MONTH.isoformat()}T00:00:00",
                netamount="123.45", totalamount="153.08", vat="29.63")  # fmt: skip
    sandbox.database("demo_ee").store_invoice(late, [])
    # Nothing reads it again until the settle day.
    assert await tick(db, times.settle - AFTER) == []

    settle_jobs = await tick(db, times.settle + AFTER)
    assert [(job.params["read"], job.params["client_ids"]) for job in settle_jobs] == [
        ("settle", ["late-1", "late-2"])
    ]
    assert await tick(db, times.settle + 2 * AFTER) == []
    await _run(db, settle_jobs)
    after = await _month_values(client, "late-1", query)
    assert int(after["sales_invoices"]) == int(before["sales_invoices"]) + 1
    assert float(after["sales_net_total"]) == round(float(before["sales_net_total"]) + 123.45, 2)
    assert after["documents"] == str(int(before["documents"]) + 1)
    # The other client's month is read and replaced too: the same values.
    assert await _month_values(client, "late-2", query) == other_before

    mine = [event for event in await _events(db) if event["client_id"] == "late-1"]
    assert [(event["month"], event["read"]) for event in mine] == [
        (MONTH.strftime("%Y-%m"), "first"),
        (MONTH.strftime("%Y-%m"), "settle"),
    ]
    settled = {value["field_key"]: value["value"] for value in mine[1]["values"]}
    assert settled["sales_invoices"] == after["sales_invoices"]


async def _month_values(client: AsyncClient, client_id: str, query: dict[str, str]) -> Any:
    statistics = (
        await client.get(f"{BASE}/clients/{client_id}/directo/statistics", params=query)
    ).json()
    (month,) = [month for month in statistics["months"] if month["month"] == query["from"]]
    return {value["field_key"]: value["value"] for value in month["values"]}


@pytest.mark.slow
async def test_own_databases_and_later_clients_get_their_own_jobs(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    code, later_code = busiest_customers(sandbox, 2)
    await set_up_company(client, db, links={"linked-1": code})
    own = await client.put(
        f"{BASE}/clients/own-1/directo/connection", json={"token": "sandbox-token-lv"}
    )
    assert own.status_code == 201, own.text
    own_connection = own.json()["connection"]["id"]
    await run_worker_burst(db.settings)  # the own connection's customer import
    times = await schedule_from(db, MONTH)

    first = await tick(db, times.first + AFTER)
    by_connection = {job.params["connection_id"]: job.params["client_ids"] for job in first}
    assert len(first) == 2
    assert by_connection.pop(own_connection) == ["own-1"]
    assert list(by_connection.values()) == [["linked-1"]]  # the company's database

    # A client linked after its database's job was created: a job of its own, under a key
    # of its own — created once too.
    linked = await client.put(
        f"{BASE}/clients/linked-2/directo/link", json={"customer_code": later_code}
    )
    assert linked.status_code == 201, linked.text
    later_now = times.first + 2 * AFTER
    ticks = await asyncio.gather(tick(db, later_now), tick(db, later_now))
    (later,) = [job for jobs in ticks for job in jobs]
    assert later.params["client_ids"] == ["linked-2"]
    base_key = next(job.dedupe_key for job in first if job.params["client_ids"] == ["linked-1"])
    assert later.dedupe_key is not None
    assert base_key is not None
    assert later.dedupe_key.startswith(f"{base_key}:")
    assert await tick(db, times.first + 3 * AFTER) == []
