"""A scheduled read that gave up while Directo was away is created again by the next tick
(nothing of a month-end lost to an outage); one that failed for good is not repeated."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.db.models import Job, MonthlyStatistic, StatisticsReadRecord
from app.db.repositories import connections as connection_repo
from app.directo.sandbox import Faults, SandboxState
from app.jobs.runner import RetryJob, run_tracked_job
from app.resources import Resources
from app.security.contexts import token_context
from app.statistics.import_days import add_months, first_of_month, local_today
from app.statistics.jobs import STATISTICS_IMPORT
from tests.support.statistics import (
    COMPANY,
    busiest_customers,
    schedule_from,
    set_up_company,
    tick,
)

MONTH = add_months(first_of_month(local_today()), -1)


async def _due(client: AsyncClient, db: Resources, sandbox: SandboxState) -> dt.datetime:
    """A company with two linked clients whose first read of `MONTH` is due; that moment."""
    first, second = busiest_customers(sandbox, 2)
    await set_up_company(client, db, links={"c-1": first, "c-2": second})
    return (await schedule_from(db, MONTH)).first + dt.timedelta(minutes=5)


async def _run_to_the_end(db: Resources, job: Job) -> Job:
    """Every attempt the job gets, back to back (the queue's back-off skipped)."""
    for _ in range(STATISTICS_IMPORT.max_attempts):
        with contextlib.suppress(RetryJob):
            await run_tracked_job(db, STATISTICS_IMPORT, job.id)
    async with db.sessionmaker() as session:
        ended = await session.get(Job, job.id)
        assert ended is not None
        return ended


async def _claimed(db: Resources) -> int:
    async with db.sessionmaker() as session:
        return int(
            await session.scalar(select(func.count()).select_from(StatisticsReadRecord)) or 0
        )


@pytest.mark.slow
async def test_a_read_given_up_during_an_outage_is_created_again_by_the_next_tick(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    due = await _due(client, db, sandbox)
    (job,) = await tick(db, due)
    sandbox.database("demo_ee").set_faults(Faults(error_rate=1.0))  # HTTP 503, every call

    failed = await _run_to_the_end(db, job)
    assert (failed.status.value, failed.attempts) == ("failed", STATISTICS_IMPORT.max_attempts)
    assert failed.errors[-1]["code"] == "directo_unavailable"
    assert failed.dedupe_key is None  # freed for the read's next job
    assert await _claimed(db) == 0

    sandbox.database("demo_ee").set_faults(Faults())  # Directo is back
    (again,) = await tick(db, due + dt.timedelta(hours=1))
    assert again.id != job.id
    assert sorted(again.params["client_ids"]) == ["c-1", "c-2"]
    done = await _run_to_the_end(db, again)
    assert done.status.value == "succeeded"
    async with db.sessionmaker() as session:
        stored = await session.scalars(
            select(MonthlyStatistic.client_id).where(MonthlyStatistic.month == MONTH).distinct()
        )
        assert sorted(stored) == ["c-1", "c-2"]


@pytest.mark.slow
async def test_a_read_that_failed_for_good_is_not_repeated_every_hour(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    due = await _due(client, db, sandbox)
    (job,) = await tick(db, due)
    async with db.sessionmaker() as session, session.begin():
        connection = await connection_repo.get_connection(session, COMPANY, None)
        assert connection is not None
        sealed = db.secrets.seal("sandbox-token-revoked", context=token_context(connection.id))
        connection.token_encrypted, connection.token_key_id = sealed.ciphertext, sealed.key_id

    failed = await _run_to_the_end(db, job)
    assert (failed.status.value, failed.attempts) == ("failed", 1)
    assert failed.dedupe_key is not None
    assert await _claimed(db) == 2
    assert await tick(db, due + dt.timedelta(hours=1)) == []


@pytest.mark.slow
async def test_a_client_unlinked_before_its_read_is_read_once_linked_again(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    due = await _due(client, db, sandbox)
    (job,) = await tick(db, due)
    code = busiest_customers(sandbox, 2)[1]
    base = f"/v1/companies/{COMPANY}/clients/c-2/directo/link"
    assert (await client.delete(base)).status_code == 204

    done = await _run_to_the_end(db, job)
    assert done.status.value == "succeeded"
    assert (done.counts["clients"], done.counts["clients_skipped"]) == (1, 1)
    assert await _claimed(db) == 1  # c-1's, completed; c-2's released
    assert await tick(db, due + dt.timedelta(hours=1)) == []  # unlinked: nothing to read

    linked = await client.put(base, json={"customer_code": code})
    assert linked.status_code in (200, 201), linked.text
    (again,) = await tick(db, due + dt.timedelta(hours=2))
    assert again.params["client_ids"] == ["c-2"]
    assert (await _run_to_the_end(db, again)).status.value == "succeeded"
