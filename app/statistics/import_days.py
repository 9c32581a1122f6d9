"""Import-day rules: on which date a client's statistics for a month are read.

* `last_work_day` — the month's last day that is neither a weekend nor a public holiday of
  the client's country (Estonia or Latvia, from the `holidays` library, which includes
  Latvia's substituted days off);
* `last_calendar_day` — the month's last day;
* `day_of_next_month` with `day` 1–28 — that day of the following month.

`due_months` answers the scheduler's question "which months should be imported by
`today`?": every month whose import day has come, within a short look-back so that days
missed while the worker was down are caught up, but never a month whose import day passed
before the settings existed (a reload back-fills those).
"""

from __future__ import annotations

import calendar
import datetime as dt
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

SUPPORTED_COUNTRIES = ("EE", "LV")
# Estonia and Latvia share one UTC offset and its daylight-saving switches.
BALTIC_TIME = ZoneInfo("Europe/Tallinn")
LOOKBACK_MONTHS = 3


class ImportDayRule(StrEnum):
    LAST_WORK_DAY = "last_work_day"
    LAST_CALENDAR_DAY = "last_calendar_day"
    DAY_OF_NEXT_MONTH = "day_of_next_month"


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays(country, years=[year]).keys())


def local_today() -> dt.date:
    """Today's date where the clients are (Estonia and Latvia)."""
    return dt.datetime.now(BALTIC_TIME).date()


def is_work_day(day: dt.date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month `count` months after `month` (negative goes back)."""
    index = month.year * 12 + (month.month - 1) + count
    return dt.date(index // 12, index % 12 + 1, 1)


def last_day(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def import_day(
    month: dt.date, *, rule: ImportDayRule, day: int | None = None, country: str = "EE"
) -> dt.date:
    """The date on which `month`'s statistics are imported under `rule`."""
    month = first_of_month(month)
    if rule is ImportDayRule.LAST_CALENDAR_DAY:
        return last_day(month)
    if rule is ImportDayRule.DAY_OF_NEXT_MONTH:
        if day is None or not 1 <= day <= 28:
            raise ValueError("day_of_next_month needs a day from 1 to 28")
        return add_months(month, 1).replace(day=day)
    if country not in SUPPORTED_COUNTRIES:
        raise ValueError(f"no holiday calendar for country {country!r}")
    candidate = last_day(month)
    while not is_work_day(candidate, country):
        candidate -= dt.timedelta(days=1)
    return candidate


def due_months(
    today: dt.date,
    *,
    rule: ImportDayRule,
    day: int | None = None,
    country: str = "EE",
    not_before: dt.date | None = None,
) -> list[dt.date]:
    """Months (first days, oldest first) whose import day is on or before `today`, looking
    back `LOOKBACK_MONTHS`, and — if given — on or after `not_before`."""
    due: list[dt.date] = []
    current = first_of_month(today)
    for back in range(LOOKBACK_MONTHS, -1, -1):
        month = add_months(current, -back)
        when = import_day(month, rule=rule, day=day, country=country)
        if when <= today and (not_before is None or when >= not_before):
            due.append(month)
    return due
