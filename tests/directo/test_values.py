from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from app.directo import values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-10T08:02:11", datetime(2025, 3, 10, 8, 2, 11)),
        ("2025-03-10 08:02:11", datetime(2025, 3, 10, 8, 2, 11)),
        ("2025-03-10", datetime(2025, 3, 10)),
        ("10.03.2025", datetime(2025, 3, 10)),
        ("1.3.2025", datetime(2025, 3, 1)),
        ("10.03.2025 08:02", datetime(2025, 3, 10, 8, 2)),
        ("10.03.2025 08:02:11", datetime(2025, 3, 10, 8, 2, 11)),
        ("2025-03-10T06:02:11Z", datetime(2025, 3, 10, 8, 2, 11)),  # Tallinn: UTC+2 in March
        ("2025-10-26T00:30:00+00:00", datetime(2025, 10, 26, 3, 30)),  # summer time's last hour
        ("2025-10-26T01:30:00+00:00", datetime(2025, 10, 26, 3, 30)),  # the same wall time again
        ("", None),
        (None, None),
    ],
)
def test_parse_datetime_reads_directo_formats(text: str | None, expected: datetime | None) -> None:
    assert values.parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    ["31.02.2025", "2025-13-01", "yesterday", "10.03.2025 8", "1.2", "9999-12-31T23:30:00+00:00"],
)
def test_parse_datetime_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError, match="not a date/time"):
        values.parse_datetime(text)


def test_parse_date_drops_the_midnight_time() -> None:
    assert values.parse_date("2025-03-01T00:00:00") == date(2025, 3, 1)
    assert values.parse_date("") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1220.00", Decimal("1220.00")), ("-0.5", Decimal("-0.5")), ("0", Decimal(0)), ("", None)],
)
def test_parse_decimal(text: str, expected: Decimal | None) -> None:
    assert values.parse_decimal(text) == expected


@pytest.mark.parametrize("text", ["12,50", "NaN", "Infinity", "abc"])
def test_parse_decimal_rejects_junk_and_non_finite(text: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        values.parse_decimal(text)


def test_filters_are_formatted_like_directo_docs() -> None:
    assert values.format_ts_filter(date(2025, 3, 1)) == "01.03.2025"
    assert values.format_ts_filter(datetime(2025, 3, 1, 8, 5, 59)) == "01.03.2025 08:05"


def test_format_decimal_never_uses_exponents() -> None:
    assert values.format_decimal(Decimal("1E+2")) == "100"
    assert values.format_decimal(Decimal("0.50")) == "0.50"
    assert values.format_decimal(Decimal("-0")) == "0"


def test_escape_attr_covers_markup_quotes_and_whitespace() -> None:
    assert values.escape_attr('a&b<c>"d"\n\t\r') == "a&amp;b&lt;c&gt;&quot;d&quot;&#10;&#9;&#13;"
