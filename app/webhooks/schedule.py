"""When to try a failed delivery again.

Attempt 1 is immediate; after each failure the next attempt waits 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 10 h (≈ 28 h in all, as Standard Webhooks senders do). A `Retry-After` from the
receiver (429/503) is honoured when it asks for longer, up to 24 h. After the last attempt the
delivery is `failed` and can be redelivered by hand.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re

RETRY_DELAYS = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
MAX_RETRY_AFTER = dt.timedelta(hours=24)


def next_attempt_delay(
    attempts_made: int, *, retry_after: dt.timedelta | None = None
) -> dt.timedelta | None:
    """Delay before the next attempt after `attempts_made` failures; None when out of attempts."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempts_made - 1]
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


_SECONDS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²" and "٣"


def parse_retry_after(value: str | None, *, now: dt.datetime) -> dt.timedelta | None:
    """`Retry-After` as delay-seconds or an HTTP date, between zero and `MAX_RETRY_AFTER`.

    The receiver is not trusted: any value that is neither (signs, fractions, non-ASCII
    digits, impossible dates) is ignored (None), and an absurd delay — twenty digits of
    seconds, the year 9999 — is capped rather than overflowing the date arithmetic.
    """
    if not value:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        # Compare as text first: int() of a huge digit string is slow, and any value with
        # more digits than the cap's is above it anyway.
        cap = int(MAX_RETRY_AFTER.total_seconds())
        if len(value.lstrip("0")) > len(str(cap)):
            return MAX_RETRY_AFTER
        return dt.timedelta(seconds=min(int(value), cap))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(max(when - now, dt.timedelta(0)), MAX_RETRY_AFTER)
