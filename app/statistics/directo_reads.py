"""Reading statistics from Directo: one planned set of reads per database, never one per
client (see `read_plan` for which calls, `read_routing` for who gets each record).

Every read streams its answer in batches and routes each batch straight into the clients'
`MonthlyTally`s, so memory holds one batch per running read plus the tallies, never a feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from typing import Any

from app.connections.capabilities import Feature, Work, explain_refusal, needs_of_feeds
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoError
from app.statistics.compute import MonthlyTally
from app.statistics.read_plan import (
    MONTHS_PER_READ,
    PER_CODE_READS_UP_TO,
    FeedRead,
    plan_reads,
)
from app.statistics.read_routing import ReadRouter
from app.statistics.sources import ClientSource

BATCH_SIZE = 2000


async def _drain(
    limiter: asyncio.Semaphore,
    batches: AsyncGenerator[list[Any], None],
    add: Callable[[list[Any]], None],
) -> None:
    async with limiter, contextlib.aclosing(batches):
        async for batch in batches:
            add(batch)


def _open(
    directo: DirectoClient, creds: DirectoCredentials, read: FeedRead
) -> AsyncGenerator[list[Any], None]:
    """The read's batches as lean summaries (the values a tally reads, checked as the
    feed's models check them)."""
    if read.feed in {"purchase", "transaction"}:
        assert read.customercode is None, f"the {read.feed} feed has no customer filter"
    return directo.iter_summaries(
        creds,
        read.feed,
        date1=read.date1,
        date2=read.date2,
        customercode=read.customercode,
        batch_size=BATCH_SIZE,
    )


async def read_statistics_for_sources(
    directo: DirectoClient,
    creds: DirectoCredentials,
    sources: Sequence[ClientSource],
    *,
    first: dt.date,
    last: dt.date,
    keys: Iterable[str],
    limiter: asyncio.Semaphore,
    months_per_read: int = MONTHS_PER_READ,
    per_code_reads_up_to: int = PER_CODE_READS_UP_TO,
) -> dict[str, MonthlyTally]:
    """Tally, by client id, every source whose documents are in the database `creds` opens,
    for the months `first`…`last` (first days).

    The calls are planned by `read_plan.plan_reads` (`months_per_read`,
    `per_code_reads_up_to`: `directo.statistics_*` settings); they run concurrently, each
    holding one slot of `limiter` (the connection's bound on concurrent Directo calls).
    The tallies equal those of reading each client on its own. Raises the first
    `DirectoError` (a refusal of a feed the key lacks as `feed_not_activated`) — it concerns
    every source, and no tally is returned.
    """
    wanted = list(keys)
    tallies = {
        source.client_id: MonthlyTally(
            scope=source.scope, first=first, last=last, customer_code=source.customer_code
        )
        for source in sources
    }
    reads = plan_reads(
        sources,
        first=first,
        last=last,
        keys=wanted,
        months_per_read=months_per_read,
        per_code_reads_up_to=per_code_reads_up_to,
    )
    tasks = [
        asyncio.create_task(
            _drain(limiter, _open(directo, creds, read), ReadRouter(read, tallies).add)
        )
        for read in reads
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException as error:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(error, DirectoError):  # a feed the key lacks: `feed_not_activated`
            feeds = sorted({read.feed for read in reads})
            work = Work(Feature.STATISTICS, needs_of_feeds(feeds), directo, creds)
            failure = await explain_refusal(error, work)
            if failure is not error:
                raise failure from error
        raise
    return tallies
