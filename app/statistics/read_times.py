"""When the scheduled import reads a month: twice, in the client's local time.

* **First read** — once the month's import day (`import_days`) has *ended* where the client
  is: from the local midnight that ends it, or from `first_read_local_hour` o'clock on the
  import day itself when that setting is given. (Reading at the start of the import day
  missed that day's documents.)
* **Settle read** — from the local midnight that starts the day `settle_after_days` after
  the import day (default 7), so documents booked late for the month arrive. Each read
  replaces the month whole. `settle_after_days = 0` turns it off, and so does a settle
  time that would not come after the first read.

`due_reads` answers the scheduler's question "which reads are due at `now`?". The rules of
`import_days.due_months` stay: a short look-back catches up days missed while no worker ran,
and a month whose import day passed before the settings existed is never read (a reload
back-fills it). A month whose settle read is due no longer needs its first read: when both
are overdue (the worker was down), only the settle read is due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from app.config import StatisticsSettings
from app.db.models.enums import StatisticsRead
from app.statistics.import_days import (
    LOOKBACK_MONTHS,
    ImportDayRule,
    add_months,
    first_of_month,
    import_day,
)

TIME_ZONES = {"EE": ZoneInfo("Europe/Tallinn"), "LV": ZoneInfo("Europe/Riga")}


def local_zone(country: str) -> ZoneInfo:
    """The client's time zone (its country's); Tallinn's for a country without one."""
    return TIME_ZONES.get(country, TIME_ZONES["EE"])


@dataclass(frozen=True, slots=True)
class ReadTimes:
    """When `month` is read for a client: aware datetimes; `settle` is None when off."""

    month: dt.date
    import_day: dt.date
    first: dt.datetime
    settle: dt.datetime | None


def _local(day: dt.date, hour: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), zone)


def read_times(
    month: dt.date,
    *,
    rule: ImportDayRule,
    day: int | None = None,
    country: str = "EE",
    timing: StatisticsSettings,
) -> ReadTimes:
    """The first and settle read times of `month` for a client in `country`."""
    zone = local_zone(country)
    when = import_day(month, rule=rule, day=day, country=country)
    if timing.first_read_local_hour is None:
        first = _local(when + dt.timedelta(days=1), 0, zone)
    else:
        first = _local(when, timing.first_read_local_hour, zone)
    settle: dt.datetime | None = None
    if timing.settle_after_days > 0:
        settle = _local(when + dt.timedelta(days=timing.settle_after_days), 0, zone)
        if settle <= first:
            settle = None
    return ReadTimes(first_of_month(month), when, first, settle)


@dataclass(frozen=True, slots=True)
class DueRead:
    """A read of `month` that is due since `due_at`."""

    month: dt.date
    read: StatisticsRead
    due_at: dt.datetime


def due_reads(
    now: dt.datetime,
    *,
    rule: ImportDayRule,
    day: int | None = None,
    country: str = "EE",
    not_before: dt.date | None = None,
    timing: StatisticsSettings,
) -> list[DueRead]:
    """The reads due at `now` (aware) for a client in `country`, oldest month first: per
    month at most one — its settle read once that is due, else its first read once due."""
    current = first_of_month(now.astimezone(local_zone(country)).date())
    due: list[DueRead] = []
    for back in range(LOOKBACK_MONTHS, -1, -1):
        times = read_times(
            add_months(current, -back), rule=rule, day=day, country=country, timing=timing
        )
        if not_before is not None and times.import_day < not_before:
            continue
        if times.settle is not None and times.settle <= now:
            due.append(DueRead(times.month, StatisticsRead.SETTLE, times.settle))
        elif times.first <= now:
            due.append(DueRead(times.month, StatisticsRead.FIRST, times.first))
    return due


def next_read(
    now: dt.datetime,
    *,
    rule: ImportDayRule,
    day: int | None = None,
    country: str = "EE",
    timing: StatisticsSettings,
) -> dt.datetime:
    """When the schedule next reads a month for a client in `country`: the earliest first
    or settle read time after `now` (aware) — the sync-status view's "next run"."""
    current = first_of_month(now.astimezone(local_zone(country)).date())
    upcoming: list[dt.datetime] = []
    for offset in (-1, 0, 1):
        times = read_times(
            add_months(current, offset), rule=rule, day=day, country=country, timing=timing
        )
        upcoming += [when for when in (times.first, times.settle) if when and when > now]
    return min(upcoming)  # next month's first read is always ahead
