"""Reading a request's filters the lenient way Directo does, and matching records."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from app.directo.sandbox.data import Attrs, Children

_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


class FilterError(ValueError):
    """A filter value the sandbox cannot read (answered like Directo's type 9)."""


def parse_moment(text: str) -> datetime:
    """``dd.mm.yyyy[ HH:MM[:SS]]``, ``yyyy-mm-dd[ HH:MM:SS]`` or ISO with ``T``."""
    text = text.strip()
    match = _DOTTED.fullmatch(text)
    try:
        if match:
            day, month, year, hour, minute, second = match.groups()
            return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                            int(second or 0))  # fmt: skip
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise FilterError(f"cannot read date {text!r}") from None


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
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        """Build from lower-cased request parameters; empty values mean "no filter"."""

        def moment(name: str, *, date_only: bool = False) -> str | None:
            raw = params.get(name, "").strip()
            if not raw:
                return None
            value = parse_moment(raw).isoformat(timespec="seconds")
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
        if self.ts is not None and attrs.get("ts", "") < self.ts:
            return False
        if self.code is not None and attrs.get("code") != self.code:
            return False
        if self.number is not None and attrs.get("number") != self.number:
            return False
        if self.closed is not None and attrs.get("closed", "0") != self.closed:
            return False
        if self.date1 is not None or self.date2 is not None:
            day = attrs.get("aeg" if what == "receipt" else "date", "")[:10]
            if (self.date1 and day < self.date1) or (self.date2 and day > self.date2):
                return False
        if self.customercode is not None:
            if what == "invoice":
                return attrs.get("customercode") == self.customercode
            if what == "receipt":
                rows = children.get("rows", [])
                return any(row.get("customer") == self.customercode for row in rows)
        return True
