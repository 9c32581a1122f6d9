"""What the statistics schedule holds for one day, for operators (`directo-gateway schedule`).

A day's schedule is every read that falls due during that day (Baltic local time), plus
earlier reads that are due and were never created (the hourly tick missed them: no worker
ran). Each line is one company, Directo database, month and read kind with its due time,
how many clients it reads and whether its job exists. Creating a day's reads creates only
what is due by now: a read is never made before its time, whatever day is asked for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import StatisticsSettings
from app.db.models import Job
from app.statistics.import_days import BALTIC_TIME
from app.statistics.scheduled_reads import ReadGroup, create_read_jobs, due_groups
from app.statistics.storage import month_key

_HEADER = ("COMPANY", "DATABASE", "CLIENTS", "MONTH", "READ", "DUE (LOCAL)", "STATE")


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    group: ReadGroup
    state: str


@dataclass(frozen=True, slots=True)
class DaySchedule:
    day: dt.date
    lines: list[ScheduleLine]
    jobs: list[Job]  # created now (commit, then enqueue them)
    dry_run: bool


async def schedule_for_day(
    session: AsyncSession,
    *,
    day: dt.date,
    now: dt.datetime,
    timing: StatisticsSettings,
    create: bool,
) -> DaySchedule:
    """The reads due on `day`; with `create`, creates those due by `now` and not created
    yet (the caller commits, then enqueues `jobs`)."""
    start = dt.datetime.combine(day, dt.time(), BALTIC_TIME)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BALTIC_TIME)
    groups = await due_groups(session, until=end - dt.timedelta(microseconds=1), timing=timing)
    listed = [g for g in groups if g.due_at >= start or (g.pending and g.due_at < start)]
    jobs: list[Job] = []
    if create:
        jobs = await create_read_jobs(session, [g for g in listed if g.due_at <= now])
    claimed = {
        (job.company_id, str(job.params["connection_id"]), job.params["month"],
         job.params["read"], client)
        for job in jobs
        for client in job.params["client_ids"]
    }  # fmt: skip

    def created_now(group: ReadGroup) -> int:
        fields = (group.company_id, str(group.connection_id), group.month.isoformat())
        return sum((*fields, group.read.value, client) in claimed for client in group.pending)

    lines = [ScheduleLine(g, _state(g, now, created_now(g), create)) for g in listed]
    return DaySchedule(day, lines, jobs, dry_run=not create)


def _state(group: ReadGroup, now: dt.datetime, created_now: int, create: bool) -> str:
    total, earlier = len(group.client_ids), len(group.created)
    if not group.pending:
        return "already created"
    if group.due_at > now:
        return "not yet due"
    prefix = f"{earlier} of {total} already created; " if earlier else ""
    if not create:
        return f"{prefix}due, not created"
    if created_now == len(group.pending):
        return f"{prefix}created now" if earlier else "created now"
    return f"{prefix}{created_now} created now, the rest by another tick"


def format_schedule(schedule: DaySchedule) -> list[str]:
    """The schedule as a table and a summary line."""
    if not schedule.lines:
        return [f"no statistics reads due on {schedule.day.isoformat()}"]
    rows = [_HEADER] + [
        (
            line.group.company_id,
            f"{line.group.database} ({line.group.connection_id})",
            str(len(line.group.client_ids)),
            month_key(line.group.month),
            line.group.read.value,
            line.group.due_at.astimezone(BALTIC_TIME).strftime("%Y-%m-%d %H:%M"),
            line.state,
        )
        for line in schedule.lines
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADER))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    states = [line.state for line in schedule.lines]
    summary = (
        f"{schedule.day.isoformat()}: {_count(len(states), 'read')} due — "
        f"{sum(s == 'already created' for s in states)} already created, "
        f"{sum(s == 'not yet due' for s in states)} not yet due"
    )
    if schedule.dry_run:
        waiting = sum(s.endswith("due, not created") for s in states)
        summary += f", {waiting} due and not created (dry run: nothing created)"
    else:
        summary += f"; {_count(len(schedule.jobs), 'job')} created and queued"
    return [*table, summary]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
