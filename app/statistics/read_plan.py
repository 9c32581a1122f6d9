"""Planning the Directo reads behind one database's statistics: pure, no I/O.

Every client whose statistics come from one Directo database (the company's, for clients
linked to its customers; a client's own) is served by one plan. Per feed:

1. **Whole database.** When a source takes every document of the feed (a client with its
   own connection), the feed is read once, unfiltered, for the whole range — today's read
   of one client's own database; any linked client of the same database is served by it too.
2. **Per customer code.** Otherwise, when the linked clients name at most
   ``max(per_code_reads_up_to, spans)`` distinct customer codes, each code is read with
   Directo's ``customercode`` filter for the whole range (one call per code, as a single
   client's read always was): that costs no more calls than the shared reads, or the clients
   are so few that reading the whole database would carry far more documents than theirs.
3. **Shared.** Otherwise one unfiltered read per span of ``months_per_read`` months serves
   all the linked clients: each document is routed by its customer code. Spans keep one
   answer well under what a Directo call can carry (Directo has no paging: one answer holds
   every matching record) — a 12-month reload of 200 clients is 4 spans × 2 feeds = 8 calls.

A read answers only for the months of its span: documents Directo returns outside it (a
receipt is returned when any of its rows falls in the period) are clipped to the span, so
neighbouring spans never count a row twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.statistics.compute import feeds_for, months_between
from app.statistics.import_days import last_day
from app.statistics.sources import ClientSource

# Defaults of `directo.statistics_months_per_read` / `…_per_code_reads_up_to` (app/config.py).
MONTHS_PER_READ = 3
PER_CODE_READS_UP_TO = 2


@dataclass(frozen=True, slots=True)
class FeedRead:
    """One Directo call: `feed` for the months `first`…`last` (first days), filtered to
    `customercode` when set; it answers for the clients in `client_ids`."""

    feed: str
    first: dt.date
    last: dt.date
    customercode: str | None
    client_ids: tuple[str, ...]

    @property
    def date1(self) -> dt.date:
        return self.first

    @property
    def date2(self) -> dt.date:
        return last_day(self.last)


def month_spans(
    first: dt.date, last: dt.date, months_per_read: int
) -> list[tuple[dt.date, dt.date]]:
    """The months `first`…`last` cut into consecutive spans of at most `months_per_read`
    months, as (first month, last month) pairs."""
    if months_per_read < 1:
        raise ValueError("months_per_read must be at least 1")
    months = months_between(first, last)
    return [
        (chunk[0], chunk[-1])
        for chunk in (
            months[i : i + months_per_read] for i in range(0, len(months), months_per_read)
        )
    ]


def plan_reads(
    sources: Sequence[ClientSource],
    *,
    first: dt.date,
    last: dt.date,
    keys: Iterable[str],
    months_per_read: int = MONTHS_PER_READ,
    per_code_reads_up_to: int = PER_CODE_READS_UP_TO,
) -> list[FeedRead]:
    """The calls that read every feed `sources` need for `first`…`last` (see the module
    docstring for the rule); each source appears in the `client_ids` of exactly the reads
    of the feeds it needs."""
    wanted = list(keys)
    spans = month_spans(first, last, months_per_read)
    feeds: dict[str, list[ClientSource]] = {}
    for source in sources:
        for feed in feeds_for(wanted, source.scope):
            feeds.setdefault(feed, []).append(source)
    reads: list[FeedRead] = []
    for feed, consumers in sorted(feeds.items()):
        everyone = tuple(source.client_id for source in consumers)
        if any(source.customer_code is None for source in consumers):
            reads.append(FeedRead(feed, first, last, None, everyone))
            continue
        by_code: dict[str, list[str]] = {}
        for source in consumers:
            assert source.customer_code is not None
            by_code.setdefault(source.customer_code, []).append(source.client_id)
        if len(by_code) <= max(per_code_reads_up_to, len(spans)):
            reads += [
                FeedRead(feed, first, last, code, tuple(clients))
                for code, clients in sorted(by_code.items())
            ]
        else:
            reads += [FeedRead(feed, start, end, None, everyone) for start, end in spans]
    return reads
