"""Directo's scalar formats: reading attribute values and writing filter/input values.

Readers raise ``ValueError`` on junk; the codec turns that into a ``DirectoDecodeError``
naming the attribute. Empty strings mean "no value" (``None``) everywhere.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


def escape_attr(value: str) -> str:
    """Escape text for a double-quoted XML attribute so it reads back unchanged.

    Newlines and tabs become character references because XML normalises literal ones
    in attribute values to spaces.
    """
    return value.translate(_ATTR_ESCAPES)


def parse_decimal(value: str | None) -> Decimal | None:
    """``"1220.00"`` → ``Decimal("1220.00")``; empty → ``None``; NaN/inf/junk → ValueError."""
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return number


def parse_datetime(value: str | None) -> datetime | None:
    """Read Directo's timestamps, naive (Directo's local time).

    Accepts ``2025-03-10T08:02:11``, ``2025-03-10 08:02:11``, ``2025-03-10``,
    ``10.03.2025`` and ``10.03.2025 08:02[:11]``; empty → ``None``.
    """
    if not value:
        return None
    if "." in value[:6]:
        return _parse_dotted(value)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date/time: {value!r}") from None


def parse_date(value: str | None) -> date | None:
    """Like `parse_datetime` but keeps only the date (Directo writes dates as midnight)."""
    moment = parse_datetime(value)
    return None if moment is None else moment.date()


def _parse_dotted(value: str) -> datetime:
    day_part, _, time_part = value.strip().partition(" ")
    try:
        day, month, year = (int(part) for part in day_part.split("."))
        hour = minute = second = 0
        if time_part:
            pieces = [int(part) for part in time_part.split(":")]
            if not 2 <= len(pieces) <= 3:
                raise ValueError(value)
            hour, minute = pieces[0], pieces[1]
            second = pieces[2] if len(pieces) == 3 else 0
        return datetime(year, month, day, hour, minute, second)  # Directo is naive local time
    except ValueError:
        raise ValueError(f"not a date/time: {value!r}") from None


def parse_flag(value: str | None) -> bool:
    """Directo's ``closed``/``confirmed`` flags: ``"1"`` is true, anything else false."""
    return value == "1"


def format_ts_filter(value: datetime | date) -> str:
    """Format a ``ts``/``date1``/``date2`` filter the way Directo's own docs write it.

    Dates are ``dd.mm.yyyy`` (the wiki's form). Date-times are ``dd.mm.yyyy HH:MM``, the
    form live clients send: seconds are floored, so an incremental read overlaps the
    previous one by < 1 minute, which is harmless because imports are upserts.
    """
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    return value.strftime("%d.%m.%Y")


def format_decimal(value: Decimal) -> str:
    """Plain notation with ``.`` (never exponent form), as Directo's inputs expect."""
    text = format(value, "f")
    return "0" if text in {"-0", ""} else text
