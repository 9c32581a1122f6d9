"""`directo-gateway schedule`: lists a day's statistics reads, creates those due, never early."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
from asyncio.subprocess import PIPE

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update

from app.db.models import Job, StatisticsReadRecord
from app.db.models import SummarySettings as SummarySettingsRow
from app.directo.sandbox import SandboxState
from app.queue.names import JobName
from app.resources import Resources
from app.statistics.import_days import ImportDayRule, add_months, first_of_month, local_today
from app.statistics.read_times import read_times
from tests.support.helpers import run_worker_burst
from tests.support.statistics import COMPANY, busiest_customers, set_up_company

HEADER = ["COMPANY", "DATABASE", "CLIENTS", "MONTH", "READ", "DUE (LOCAL)", "STATE"]


async def _schedule(db: Resources, *args: str) -> tuple[int, list[list[str]], str, str]:
    """Run the command; (exit code, table rows split into cells, summary line, stderr)."""
    env = {
        **os.environ,
        "GATEWAY_DATABASE__URL": db.settings.database.url,
        "GATEWAY_REDIS__URL": db.settings.redis.url,
        "GATEWAY_REDIS__QUEUE_NAME": db.settings.redis.queue_name,
        "GATEWAY_LOG__LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "schedule", *args, env=env, stdout=PIPE, stderr=PIPE
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    lines = out.decode().splitlines()
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[:-1]]
    assert process.returncode is not None
    return process.returncode, rows, lines[-1] if lines else "", err.decode()


async def _jobs(db: Resources) -> list[Job]:
    async with db.sessionmaker() as session:
        statement = (
            select(Job).where(Job.kind == JobName.STATISTICS_IMPORT).order_by(Job.created_at)
        )
        return list(await session.scalars(statement))


@pytest.mark.slow
async def test_schedule_lists_then_creates_the_days_reads_once(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(
        client, db, links=dict(zip(["cli-a", "cli-b"], busiest_customers(sandbox, 2), strict=True))
    )
    month = add_months(first_of_month(local_today()), -2)
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(SummarySettingsRow).values(
                created_at=dt.datetime.combine(month, dt.time(), dt.UTC)
            )
        )
    times = read_times(month, rule=ImportDayRule.LAST_CALENDAR_DAY, timing=db.settings.statistics)
    assert times.settle is not None
    first_day = times.first.date().isoformat()
    line = ["stats-firm", "2", month.strftime("%Y-%m"), "first", f"{first_day} 00:00"]

    code, rows, summary, err = await _schedule(db, "--date", first_day, "--dry-run")
    assert code == 0, err
    assert rows[0] == HEADER
    ((company, database, *cells, state),) = rows[1:]
    assert company == COMPANY
    assert re.fullmatch(r"company \([0-9a-f-]{36}\)", database)
    assert [company, *cells] == line
    assert state == "due, not created"
    assert summary == (
        f"{first_day}: 1 read due — 0 already created, 0 not yet due, "
        "1 due and not created (dry run: nothing created)"
    )
    assert await _jobs(db) == []

    code, rows, summary, err = await _schedule(db, "--date", first_day)
    assert code == 0, err
    assert [rows[1][0], *rows[1][2:]] == [*line, "created now"]
    assert summary.endswith("; 1 job created and queued")
    (job,) = await _jobs(db)
    assert (job.params["read"], job.params["client_ids"]) == ("first", ["cli-a", "cli-b"])
    await run_worker_burst(db.settings)  # it was queued: the worker runs it
    (job,) = await _jobs(db)
    assert job.status.value == "succeeded"

    code, rows, summary, err = await _schedule(db, "--date", first_day)
    assert code == 0, err
    assert rows[1][-1] == "already created"
    assert (
        summary
        == f"{first_day}: 1 read due — 1 already created, 0 not yet due; 0 jobs created and queued"
    )

    settle_day = times.settle.date().isoformat()
    code, rows, summary, err = await _schedule(db, "--date", settle_day)
    assert code == 0, err
    assert [cells[4:] for cells in rows[1:]] == [["settle", f"{settle_day} 00:00", "created now"]]
    async with db.sessionmaker() as session:
        reads = await session.execute(
            select(StatisticsReadRecord.client_id, StatisticsReadRecord.read_kind)
        )
        assert sorted((client_id, read.value) for client_id, read in reads.all()) == [
            ("cli-a", "first"), ("cli-a", "settle"), ("cli-b", "first"), ("cli-b", "settle")
        ]  # fmt: skip


@pytest.mark.slow
async def test_a_future_day_is_listed_but_never_read_early(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={"cli-f": busiest_customers(sandbox, 1)[0]})
    this_month = first_of_month(local_today())
    times = read_times(
        this_month, rule=ImportDayRule.LAST_CALENDAR_DAY, timing=db.settings.statistics
    )
    future_day = times.first.date().isoformat()  # the 1st of next month

    code, rows, _, err = await _schedule(db, "--date", future_day)
    assert code == 0, err
    (mine,) = [cells for cells in rows[1:] if cells[3] == this_month.strftime("%Y-%m")]
    assert mine[4:] == ["first", f"{future_day} 00:00", "not yet due"]
    assert all(job.params["month"] != this_month.isoformat() for job in await _jobs(db))


async def test_bad_input_exits_2() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "schedule",
        "--date",
        "2026-13-01",
        stdout=PIPE,
        stderr=PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "--date" in err.decode()
    assert "Traceback" not in err.decode()
