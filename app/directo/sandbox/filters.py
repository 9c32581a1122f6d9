"""Reading a request's filters the lenient way Directo does, and matching records."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from app.directo.sandbox.data import Attrs, Children
from app.directo.values import to_local

_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


class FilterError(ValueError):
    """A filter value the sandbox cannot read (answered like Directo's type 9)."""


def _moment(year: str, month: str, day: str, rest: tuple[str | None, ...], text: str) -> datetime:
    hour, minute, second = rest
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                        int(second or 0))  # fmt: skip
    except ValueError:
        raise FilterError(f"Invalid date given: {text}") from None


def parse_moment(text: str, dates: str = "any") -> datetime:
    """``dd.mm.yyyy[ HH:MM[:SS]]``, ``yyyy-mm-dd[ HH:MM:SS]`` or ISO with ``T``.

    ``dates`` is the server's `ServerMode.filter_dates`: under ``iso`` a dotted date is
    read month first, under ``dmy`` a dashed one as ``yyyy-dd-mm`` — so the other form
    is refused when its day is above 12 and misread when not.
    """
    text = text.strip()
    dotted = _DOTTED.fullmatch(text)
    if dotted:
        day, month, year, *rest = dotted.groups()
        if dates == "iso":
            day, month = month, day
        return _moment(year, month, day, tuple(rest), text)
    dashed = _ISO.fullmatch(text)
    if dashed and dates == "dmy":
        year, day, month, *rest = dashed.groups()
        return _moment(year, month, day, tuple(rest), text)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise FilterError(f"Invalid date given: {text}") from None


def _local(stamp: str) -> str:
    """A record's ``ts`` as Directo's local time: one set with a zone offset (a test's) is
    compared by the moment it names, as Directo compares its own times."""
    if len(stamp) <= 19:  # 2025-03-10T08:02:11: local already (the seeded data's form)
        return stamp
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return (to_local(moment) if moment.tzinfo else moment).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Filters:
    """Filters of one get; date-times as ISO strings so they compare with record values."""

    ts: str | None = None
    date1: str | None = None
    date2: str | None = None
    code: str | None = None
    number: str | None = None
    closed: str | None = None
    customercode: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, dates: str = "any") -> Filters:
        """Build from lower-cased request parameters; empty values mean "no filter".
        ``dates``: how dates are read (see `parse_moment`)."""

        def moment(name: str, *, date_only: bool = False) -> str | None:
            raw = params.get(name, "").strip()
            if not raw:
                return None
            value = parse_moment(raw, dates).isoformat(timespec="seconds")
            return value[:10] if date_only else value

        closed = params.get("closed", "").strip() or None
        if closed not in {None, "0", "1"}:
            raise FilterError(f"closed must be 0 or 1, not {closed!r}")
        return cls(
            ts=moment("ts"),
            date1=moment("date1", date_only=True),
            date2=moment("date2", date_only=True),
            code=params.get("code", "").strip() or None,
            number=params.get("number", "").strip() or None,
            closed=closed,
            customercode=params.get("customercode", "").strip() or None,
        )

    def matches(self, what: str, attrs: Attrs, children: Children) -> bool:
        """Whether a record passes every filter that applies to its component."""
        if self.ts is not None and _local(attrs.get("ts", "")) < self.ts:
            return False
        if self.code is not None and attrs.get("code") != self.code:
            return False
        if self.number is not None and attrs.get("number") != self.number:
            return False
        if self.closed is not None and attrs.get("closed", "0") != self.closed:
            return False
        if self.date1 is not None or self.date2 is not None:
            if what == "receipt":
                # Receipts are dated on their rows [ws_laekumised.xsd]: one row in the
                # period is enough (how Directo itself filters them is not public).
                header = attrs.get("aeg", "")
                days = [(row.get("aeg") or header)[:10] for row in children.get("rows", [])]
                if not any(self._in_period(day) for day in days or [header[:10]]):
                    return False
            elif not self._in_period(attrs.get("date", "")[:10]):
                return False
        if self.customercode is not None:
            if what == "invoice":
                return attrs.get("customercode") == self.customercode
            if what == "receipt":
                rows = children.get("rows", [])
                return any(row.get("customer") == self.customercode for row in rows)
        return True

    def _in_period(self, day: str) -> bool:
        return not (
            (self.date1 is not None and day < self.date1)
            or (self.date2 is not None and day > self.date2)
        )
