"""When a month is read: first after its import day has ended in the client's local time,
then again to settle it — with the import-day rules (holidays, catch-up) kept."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from app.config import StatisticsSettings
from app.db.models import StatisticsRead
from app.statistics.import_days import ImportDayRule, import_day
from app.statistics.read_times import DueRead, due_reads, local_zone, next_read, read_times

D = dt.date
UTC = dt.UTC
LAST_WORK = ImportDayRule.LAST_WORK_DAY
DEFAULT = StatisticsSettings()
FIRST, SETTLE = StatisticsRead.FIRST, StatisticsRead.SETTLE


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_first_read_waits_for_the_end_of_the_import_day_in_local_time() -> None:
    # 30 Nov 2026 (a Monday) is November's last work day in Estonia; Tallinn is UTC+2 then.
    before = due_reads(at(2026, 11, 30, 21, 59), rule=LAST_WORK, timing=DEFAULT)
    assert D(2026, 11, 1) not in [due.month for due in before]
    after = due_reads(at(2026, 11, 30, 22, 0), rule=LAST_WORK, timing=DEFAULT)
    assert after[-1] == DueRead(D(2026, 11, 1), FIRST, at(2026, 11, 30, 22, 0))


def test_summer_time_and_latvian_holidays_move_the_first_read() -> None:
    # 31 Mar 2026 is a Tuesday; at its end Tallinn is on summer time (UTC+3).
    march = read_times(D(2026, 3, 1), rule=LAST_WORK, country="EE", timing=DEFAULT)
    assert march.first == at(2026, 3, 31, 21, 0)
    # 31 Dec 2025 is a public holiday in Latvia: the import day is the 30th, read from the 31st.
    december = read_times(D(2025, 12, 1), rule=LAST_WORK, country="LV", timing=DEFAULT)
    assert (december.import_day, december.first) == (D(2025, 12, 30), at(2025, 12, 30, 22, 0))
    assert december.first.tzinfo == local_zone("LV")


def test_a_configured_local_hour_reads_late_on_the_import_day() -> None:
    timing = StatisticsSettings(first_read_local_hour=22)
    times = read_times(D(2026, 11, 1), rule=LAST_WORK, timing=timing)
    assert times.first == at(2026, 11, 30, 20, 0)
    assert times.settle == at(2026, 12, 6, 22, 0)  # 7 Dec, local midnight


def test_the_settle_read_replaces_the_first_once_due() -> None:
    rule = ImportDayRule.LAST_CALENDAR_DAY
    on_day_six = due_reads(at(2026, 12, 6, 21, 59), rule=rule, timing=DEFAULT)
    assert on_day_six[-1] == DueRead(D(2026, 11, 1), FIRST, at(2026, 11, 30, 22, 0))
    on_day_seven = due_reads(at(2026, 12, 6, 22, 0), rule=rule, timing=DEFAULT)
    assert on_day_seven[-1] == DueRead(D(2026, 11, 1), SETTLE, at(2026, 12, 6, 22, 0))
    # A later settle day, from settings.
    later = StatisticsSettings(settle_after_days=10)
    assert due_reads(at(2026, 12, 6, 22, 0), rule=rule, timing=later)[-1].read is FIRST
    assert due_reads(at(2026, 12, 9, 22, 0), rule=rule, timing=later)[-1].read is SETTLE


def test_the_settle_read_can_be_turned_off() -> None:
    off = StatisticsSettings(settle_after_days=0)
    assert read_times(D(2026, 11, 1), rule=LAST_WORK, timing=off).settle is None
    late = due_reads(at(2027, 1, 20), rule=LAST_WORK, timing=off)
    assert {due.read for due in late} == {FIRST}
    # A settle time no later than the first read is no settle read either.
    same = StatisticsSettings(settle_after_days=1)
    assert read_times(D(2026, 11, 1), rule=LAST_WORK, timing=same).settle is None


def test_catch_up_and_the_settings_start_are_kept() -> None:
    # A worker down from late November to 10 December still finds October and November due
    # — both settled by then — and nothing from before the settings existed.
    down = due_reads(
        at(2026, 12, 10, 12), rule=LAST_WORK, not_before=D(2026, 10, 15), timing=DEFAULT
    )
    assert [(due.month, due.read) for due in down] == [
        (D(2026, 10, 1), SETTLE),
        (D(2026, 11, 1), SETTLE),
    ]
    # Day 5 of the next month: January is first read after 5 Feb has ended.
    rule = ImportDayRule.DAY_OF_NEXT_MONTH
    reads = due_reads(at(2026, 2, 5, 21, 59), rule=rule, day=5, timing=DEFAULT)
    assert D(2026, 1, 1) not in [due.month for due in reads]
    reads = due_reads(at(2026, 2, 5, 22, 0), rule=rule, day=5, timing=DEFAULT)
    assert reads[-1] == DueRead(D(2026, 1, 1), FIRST, at(2026, 2, 5, 22, 0))


@given(
    month=st.dates(min_value=D(2020, 1, 1), max_value=D(2040, 12, 1)).map(
        lambda d: d.replace(day=1)
    ),
    country=st.sampled_from(["EE", "LV"]),
    rule=st.sampled_from(list(ImportDayRule)),
    day=st.integers(1, 28),
    hour=st.none() | st.integers(0, 23),
    settle_after=st.integers(2, 30),
)
def test_read_time_properties(
    month: dt.date,
    country: str,
    rule: ImportDayRule,
    day: int,
    hour: int | None,
    settle_after: int,
) -> None:
    timing = StatisticsSettings(first_read_local_hour=hour, settle_after_days=settle_after)
    times = read_times(month, rule=rule, day=day, country=country, timing=timing)
    zone = local_zone(country)
    import_on = import_day(month, rule=rule, day=day, country=country)
    day_end = dt.datetime.combine(import_on + dt.timedelta(days=1), dt.time(), zone)
    if hour is None:
        assert times.first == day_end
    else:
        assert times.first.astimezone(zone).date() == import_on
    assert times.settle is not None
    assert times.settle.astimezone(zone).date() == import_on + dt.timedelta(days=settle_after)
    assert times.settle > times.first
    # Just after each time, that read is due for the month, and nothing earlier was.
    for kind, moment in ((FIRST, times.first), (SETTLE, times.settle)):
        assert DueRead(times.month, kind, moment) in due_reads(
            moment, rule=rule, day=day, country=country, timing=timing
        )
        before = due_reads(
            moment - dt.timedelta(seconds=1), rule=rule, day=day, country=country, timing=timing
        )
        assert (times.month, kind) not in [(due.month, due.read) for due in before]


def test_the_next_read_is_the_next_first_or_settle_time() -> None:
    # November 2026's import day is Mon 30 Nov: first read from 22:00 UTC that day, settle
    # read from 6 Dec 22:00 UTC; December's first read from 30 Dec 22:00 UTC (31 Dec is a
    # Thursday, but New Year's Eve is a work day in Estonia: its first read is 31 Dec 22:00).
    assert next_read(at(2026, 11, 30, 12), rule=LAST_WORK, timing=DEFAULT) == at(2026, 11, 30, 22)
    assert next_read(at(2026, 11, 30, 22), rule=LAST_WORK, timing=DEFAULT) == at(2026, 12, 6, 22)
    december = read_times(D(2026, 12, 1), rule=LAST_WORK, timing=DEFAULT)
    assert next_read(at(2026, 12, 7), rule=LAST_WORK, timing=DEFAULT) == december.first
    no_settle = StatisticsSettings(settle_after_days=0)
    assert next_read(at(2026, 11, 30, 22), rule=LAST_WORK, timing=no_settle) == december.first
