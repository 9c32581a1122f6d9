"""Reading one client's statistics from Directo: each needed feed once for the whole date
range (date1/date2), bucketed by month — never one call per month."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

from app.connections.capabilities import Feature, Work, explain_refusal, needs_of_feeds
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoError
from app.statistics.compute import MonthlyTally, feeds_for
from app.statistics.import_days import last_day
from app.statistics.sources import ClientSource

BATCH_SIZE = 2000


async def _drain(
    limiter: asyncio.Semaphore,
    batches: AsyncGenerator[list[Any], None],
    add: Callable[[Iterable[Any]], None],
) -> None:
    async with limiter, contextlib.aclosing(batches):
        async for batch in batches:
            add(batch)


async def read_statistics(
    directo: DirectoClient,
    creds: DirectoCredentials,
    source: ClientSource,
    *,
    first: dt.date,
    last: dt.date,
    keys: Iterable[str],
    limiter: asyncio.Semaphore,
) -> MonthlyTally:
    """Tally the client's documents dated in the months `first`…`last` (first days).

    Feeds run concurrently, each holding one slot of `limiter` (the connection's bound on
    concurrent Directo calls). Raises the first `DirectoError` (a refusal of a feed the key
    lacks as `feed_not_activated`); the tally is then unusable.
    """
    tally = MonthlyTally(
        scope=source.scope, first=first, last=last, customer_code=source.customer_code
    )
    date1, date2, code = first, last_day(last), source.customer_code
    readers = {
        "invoice": lambda: _drain(
            limiter,
            directo.iter_invoices(
                creds, date1=date1, date2=date2, customercode=code, batch_size=BATCH_SIZE
            ),
            tally.add_invoices,
        ),
        "receipt": lambda: _drain(
            limiter,
            directo.iter_receipts(
                creds, date1=date1, date2=date2, customercode=code, batch_size=BATCH_SIZE
            ),
            tally.add_receipts,
        ),
        "purchase": lambda: _drain(
            limiter,
            directo.iter_purchases(creds, date1=date1, date2=date2, batch_size=BATCH_SIZE),
            tally.add_purchases,
        ),
        "transaction": lambda: _drain(
            limiter,
            directo.iter_transactions(creds, date1=date1, date2=date2, batch_size=BATCH_SIZE),
            tally.add_transactions,
        ),
    }
    needed = feeds_for(keys, source.scope)
    tasks = [asyncio.create_task(readers[feed]()) for feed in needed]
    try:
        await asyncio.gather(*tasks)
    except BaseException as error:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(error, DirectoError):  # a feed the key lacks: `feed_not_activated`
            work = Work(Feature.STATISTICS, needs_of_feeds(needed), directo, creds)
            failure = await explain_refusal(error, work)
            if failure is not error:
                raise failure from error
        raise
    return tally
