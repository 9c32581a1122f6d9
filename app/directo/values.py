"""Directo's scalar formats: reading attribute values and writing filter/input values.

Readers raise ``ValueError`` on junk; the codec turns that into a ``DirectoDecodeError``
naming the attribute. Empty strings mean "no value" (``None``) everywhere.

Time: Directo reports its local time without an offset (Europe/Tallinn for the Estonian
and Latvian databases alike: Directo runs in Tallinn [INFER]). A value that does carry an
offset (``…+03:00``, ``…Z``) is converted to that local time and made naive, so every
timestamp the gateway holds is of one kind and comparisons never fail.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal
from zoneinfo import ZoneInfo

DIRECTO_TIME = ZoneInfo("Europe/Tallinn")
DateFormat = Literal["dmy", "iso"]

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
    ``10.03.2025`` and ``10.03.2025 08:02[:11]``; an ISO value with an offset is converted
    to Directo's local time (see the module docstring); empty → ``None``.
    """
    if not value:
        return None
    if "." in value[:6]:
        return _parse_dotted(value)
    try:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo is None else to_local(moment)
    except (ValueError, OverflowError):  # overflow: local time past year 9999
        raise ValueError(f"not a date/time: {value!r}") from None


def to_local(moment: datetime) -> datetime:
    """An aware date-time as Directo's naive local time (Europe/Tallinn)."""
    return moment.astimezone(DIRECTO_TIME).replace(tzinfo=None)


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


def format_ts_filter(value: datetime | date, date_format: DateFormat = "dmy") -> str:
    """Format a ``ts``/``date1``/``date2`` filter value.

    ``dmy`` (the default) is the wiki's form: dates ``dd.mm.yyyy``, date-times
    ``dd.mm.yyyy HH:MM`` as live clients send them. That drops the seconds, which floors
    the bound: the read starts up to 59 s earlier than asked, a superset of what was
    asked, so nothing is lost. The incremental readers hold an overlap far wider than
    that anyway (`app.sync.catalogue.OVERLAP` and `app.payments.poll.OVERLAP`, 1 h each:
    the floored minute lies inside it) and upsert what they read again.

    ``iso`` is the form another client documents: ``yyyy-mm-dd`` and
    ``yyyy-mm-dd HH:MM:SS``, seconds kept. Aware values are converted to Directo's local
    time first.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = to_local(value)
        if date_format == "iso":
            return value.isoformat(sep=" ", timespec="seconds")
        return value.strftime("%d.%m.%Y %H:%M")
    if date_format == "iso":
        return value.isoformat()
    return value.strftime("%d.%m.%Y")


def format_decimal(value: Decimal) -> str:
    """Plain notation with ``.`` (never exponent form), as Directo's inputs expect."""
    text = format(value, "f")
    return "0" if text in {"-0", ""} else text
