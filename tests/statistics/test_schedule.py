"""Import-day rules: weekends, Estonian and Latvian holidays, leap years, catch-up."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.statistics.import_days import (
    ImportDayRule,
    add_months,
    due_months,
    import_day,
    is_work_day,
    last_day,
)

D = dt.date
LAST_WORK = ImportDayRule.LAST_WORK_DAY


@pytest.mark.parametrize(
    ("month", "country", "expected", "why"),
    [
        (D(2025, 5, 1), "EE", D(2025, 5, 30), "31 May 2025 is a Saturday"),
        (D(2025, 8, 1), "EE", D(2025, 8, 29), "30-31 Aug 2025 are a weekend"),
        (D(2026, 1, 1), "EE", D(2026, 1, 30), "31 Jan 2026 is a Saturday"),
        (D(2025, 12, 1), "EE", D(2025, 12, 31), "31 Dec 2025 is a working Wednesday in Estonia"),
        (D(2025, 12, 1), "LV", D(2025, 12, 30), "31 Dec is a public holiday in Latvia"),
        (D(2026, 12, 1), "EE", D(2026, 12, 31), "Thursday; 24-26 Dec are holidays earlier"),
        (D(2027, 12, 1), "EE", D(2027, 12, 31), "Friday"),
        (D(2021, 12, 1), "LV", D(2021, 12, 30), "31 Dec 2021 (Fri) is a holiday in Latvia"),
        (D(2024, 2, 1), "EE", D(2024, 2, 29), "leap year: 29 Feb 2024 is a Thursday"),
        (D(2026, 2, 1), "EE", D(2026, 2, 27), "28 Feb 2026 is a Saturday"),
        (D(2029, 2, 1), "EE", D(2029, 2, 28), "Wednesday"),
        (D(2032, 2, 1), "EE", D(2032, 2, 27), "leap year: 28-29 Feb 2032 are Sat/Sun"),
        (D(2026, 11, 1), "LV", D(2026, 11, 30), "18 Nov is a Latvian holiday but not month end"),
        (D(2025, 11, 1), "EE", D(2025, 11, 28), "29-30 Nov 2025 are a weekend"),
    ],
)
def test_last_work_day(month: dt.date, country: str, expected: dt.date, why: str) -> None:
    assert import_day(month, rule=LAST_WORK, country=country) == expected, why


@pytest.mark.parametrize(
    ("day", "country", "expected"),
    [
        (D(2026, 2, 24), "EE", False),  # Independence Day (Estonia)
        (D(2026, 2, 24), "LV", True),
        (D(2026, 11, 18), "LV", False),  # Proclamation Day (Latvia)
        (D(2026, 11, 18), "EE", True),
        (D(2026, 12, 24), "EE", False),
        (D(2026, 12, 25), "LV", False),
        (D(2026, 12, 28), "EE", True),  # Monday after Christmas
        (D(2025, 11, 17), "LV", False),  # substituted day off in Latvia
        (D(2026, 11, 21), "EE", False),  # Saturday
    ],
)
def test_work_days_follow_each_country_calendar(day: dt.date, country: str, expected: bool) -> None:
    assert is_work_day(day, country) is expected


def test_other_rules() -> None:
    assert import_day(D(2024, 2, 1), rule=ImportDayRule.LAST_CALENDAR_DAY) == D(2024, 2, 29)
    assert import_day(D(2026, 12, 1), rule=ImportDayRule.DAY_OF_NEXT_MONTH, day=5) == D(2027, 1, 5)
    assert import_day(D(2026, 1, 1), rule=ImportDayRule.DAY_OF_NEXT_MONTH, day=28) == D(2026, 2, 28)
    with pytest.raises(ValueError, match="1 to 28"):
        import_day(D(2026, 1, 1), rule=ImportDayRule.DAY_OF_NEXT_MONTH, day=29)
    with pytest.raises(ValueError, match="country 'FI'"):
        import_day(D(2026, 1, 1), rule=LAST_WORK, country="FI")


@given(
    month=st.dates(min_value=D(2000, 1, 1), max_value=D(2099, 12, 1)).map(
        lambda d: d.replace(day=1)
    ),
    country=st.sampled_from(["EE", "LV"]),
)
def test_last_work_day_properties(month: dt.date, country: str) -> None:
    day = import_day(month, rule=LAST_WORK, country=country)
    assert (day.year, day.month) == (month.year, month.month)
    assert is_work_day(day, country)
    assert all(not is_work_day(later, country) for later in _days_between(day, last_day(month)))


def _days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range(1, (end - start).days + 1)]


@given(st.dates(min_value=D(1990, 1, 1), max_value=D(2090, 1, 1)), st.integers(-400, 400))
def test_add_months_round_trips(day: dt.date, count: int) -> None:
    month = day.replace(day=1)
    assert add_months(add_months(month, count), -count) == month
    assert add_months(month, count).day == 1


def test_due_months_on_the_import_day_and_catch_up() -> None:
    # 27 Feb 2026 is the last work day of February in Estonia.
    assert due_months(D(2026, 2, 26), rule=LAST_WORK, country="EE")[-1] == D(2026, 1, 1)
    assert due_months(D(2026, 2, 27), rule=LAST_WORK, country="EE")[-1] == D(2026, 2, 1)
    # A worker down for days still finds February due in March (catch-up).
    assert D(2026, 2, 1) in due_months(D(2026, 3, 4), rule=LAST_WORK, country="EE")
    # Day 5 of the next month: January is due from 5 Feb, not before.
    next_month = ImportDayRule.DAY_OF_NEXT_MONTH
    assert D(2026, 1, 1) not in due_months(D(2026, 2, 4), rule=next_month, day=5)
    assert D(2026, 1, 1) in due_months(D(2026, 2, 5), rule=next_month, day=5)


def test_due_months_never_reach_before_the_settings_existed() -> None:
    months = due_months(
        D(2026, 3, 31), rule=ImportDayRule.LAST_CALENDAR_DAY, not_before=D(2026, 3, 15)
    )
    assert months == [D(2026, 3, 1)]
