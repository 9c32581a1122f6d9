"""Customer and article imports: stream Directo's feed into `directo_customers` /
`directo_articles`, keyed by (connection, code).

* **Incremental by default**: read records changed since the stored `ts` watermark minus an
  overlap window (the boundary is inclusive, so nothing at it is lost; re-read records are
  unchanged and cost no write). `full` reads everything.
* **Unchanged records are not written**: each record carries a content hash; only new and
  changed ones are upserted.
* **All or nothing**: the whole feed is written in the job's one transaction together with
  the new watermark and the job's status. A failed or interrupted import leaves the
  previous data and watermark as they were.
* After a **complete** full import, records Directo no longer has are marked
  `missing_since` (never deleted); a record seen again is unmarked.

Records become rows on the codec's parse thread, straight from the parser's attribute
dicts (`customer_rows` / `article_rows`): no model is built for them, and the event loop
only hands the finished rows to the writer. The tests hold them to the rows the feed's
models give (`tests/catalogue_reference.py`). A row's stored `raw` document holds the
record's attributes and every child container Directo sent with entries (`datafields`,
items' `supplieritems`, …).

* **A record without a code is not imported**: it is counted (`without_code`) and listed
  in the job's errors (`record_without_code`, the first `MAX_RECORD_ERRORS`), and the job
  ends `partially_failed`; the rest of the feed is imported as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import operator
import re
import time
import unicodedata
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from app.connections import health
from app.connections.capabilities import Feature, Work
from app.connections.service import credentials_of
from app.db.models import Connection, DirectoArticle, DirectoCustomer, JobStatus
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import connections as connection_repo
from app.directo import feeds
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoError
from app.directo.feeds import Attrs, Children
from app.directo.probe import Capability
from app.jobs.runner import JobContext, JobFailed, JobOutcome
from app.sync.imports import Feed
from app.webhooks.types import EventType

OVERLAP = dt.timedelta(hours=1)
BATCH_SIZE = 2000
MAX_RECORD_ERRORS = 20  # per-record errors listed on a job (all are counted)
READ_AHEAD = 1  # parsed batches held ready while one is written
PROGRESS_EVERY = 1.0  # seconds between progress updates while a feed is read


# Combining marks (U+0300–U+036F), removed after NFKD decomposition: one regular expression
# pass in C (a str.translate table costs a dict lookup per character).
_COMBINING_MARKS = re.compile("[\u0300-\u036f]+")


def fold(text: str) -> str:
    """Lower case without diacritics: "Õunapuu" → "ounapuu", for accent-insensitive search.

    Letters without a decomposition (Cyrillic, "ø" …) are kept, only lower-cased.
    """
    folded = text.casefold()
    if folded.isascii():
        return folded
    return _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", folded))


# The columns an import writes, in the order `customer_rows` / `article_rows` give them.
COMMON_COLUMNS = (
    "connection_id",
    "code",
    "name",
    "closed",
    "directo_ts",
    "raw",
    "content_hash",
    "search_text",
)
CUSTOMER_COLUMNS = (
    *COMMON_COLUMNS,
    *("regno", "vatregno", "address1", "address2", "address3", "county", "country"),
    *("contact", "email", "phone"),
)
ARTICLE_COLUMNS = (*COMMON_COLUMNS, "unit")


RowBuilder = Callable[[Attrs, Children], tuple[Any, ...]]
_NO_CHILDREN: Children = {}
_CODE = COMMON_COLUMNS.index("code")
_NAME = COMMON_COLUMNS.index("name")
_TS = COMMON_COLUMNS.index("directo_ts")
_CODES = operator.itemgetter(_CODE)
_with_children = feeds.with_unmodelled  # attributes + every non-empty child container
# What the models would hold in `ts`, every value they convert checked as they would.
_CUSTOMER_TS = feeds.reader(feeds.CUSTOMERS, "ts")
_ITEM_TS = feeds.reader(feeds.ITEMS, "ts")


def customer_rows(connection_id: uuid.UUID) -> RowBuilder:
    """A record builder for the customer feed giving `directo_customers` rows: what
    `tests/catalogue_reference.customer_record` makes of the feed's model, made from the
    attributes directly.

    It runs on the parse thread once per record, so it reads each attribute once and
    calls nothing it can do without (this and the parse are most of an import's own CPU
    time). A record the model would refuse raises the same `DirectoDecodeError`.
    """
    dumps, sort_keys, sha256 = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256

    def row(attrs: Attrs, found: Children = _NO_CHILDREN) -> tuple[Any, ...]:
        ts = _CUSTOMER_TS(attrs, found)
        get = attrs.get
        # The canonical JSON document: keys sorted, compact, UTF-8; attributes and the
        # child containers with entries (a customer's are its datafields, as a rule).
        document = dumps(
            ({**attrs, **found} if all(found.values()) else _with_children(attrs, found))
            if found
            else attrs,
            option=sort_keys,
        )
        name, code = get("name"), get("code") or ""
        regno, vatregno = get("regno") or None, get("vatregno") or None
        return (
            connection_id,
            code,
            name or "",
            get("closed") == "1",
            ts,
            document.decode(),
            sha256(document).digest(),
            fold(" ".join(filter(None, (name, code, regno, vatregno)))),
            regno,
            vatregno,
            get("address1") or None,
            get("address2") or None,
            get("address3") or None,
            get("county") or None,
            get("country") or None,
            get("contact") or None,
            get("email") or None,
            get("phone") or None,
        )

    return row


def article_rows(connection_id: uuid.UUID) -> RowBuilder:
    """Like `customer_rows`, for the item feed: `directo_articles` rows as
    `tests/catalogue_reference.article_record` makes them."""
    dumps, sort_keys, sha256 = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256

    def row(attrs: Attrs, found: Children = _NO_CHILDREN) -> tuple[Any, ...]:
        ts = _ITEM_TS(attrs, found)
        get = attrs.get
        document = dumps(_with_children(attrs, found) if found else attrs, option=sort_keys)
        name, code = get("name"), get("code") or ""
        return (
            connection_id,
            code,
            name or "",
            get("closed") == "1",
            ts,
            document.decode(),
            sha256(document).digest(),
            fold(" ".join(filter(None, (name, code)))),
            get("unit") or None,
        )

    return row


@dataclass(frozen=True, slots=True)
class _FeedPlan:
    model: type[DirectoCustomer] | type[DirectoArticle]
    columns: tuple[str, ...]
    feed: feeds.Feed[Any]
    rows: Callable[[uuid.UUID], RowBuilder]


_PLANS = {
    Feed.CUSTOMERS: _FeedPlan(DirectoCustomer, CUSTOMER_COLUMNS, feeds.CUSTOMERS, customer_rows),
    Feed.ARTICLES: _FeedPlan(DirectoArticle, ARTICLE_COLUMNS, feeds.ITEMS, article_rows),
}


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


async def read_ahead(
    source: AsyncGenerator[list[Any], None], *, depth: int
) -> AsyncGenerator[list[Any], None]:
    """Iterate `source` in a task of its own, up to `depth` batches ahead of the consumer.

    A feed's batches come from reading the HTTP stream and parsing it (on the codec's
    thread); without this that work would pause whenever the consumer is busy building
    rows or waiting for a write, instead of running alongside. The task owns `source`
    from its first step to its close. `source`'s error reaches the consumer after the
    batches before it, as it would unbuffered; closing this generator early (or cancelling
    its consumer) cancels the task, which closes `source`.
    """
    queue: asyncio.Queue[list[Any] | _Failed | None] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async with contextlib.aclosing(source):
                async for batch in source:
                    await queue.put(batch)
        except Exception as error:  # handed to the consumer, raised there
            await queue.put(_Failed(error))
        else:
            await queue.put(None)  # the end

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _load_connection(context: JobContext) -> Connection:
    connection_id = context.job.connection_id
    connection = None
    if connection_id is not None:
        connection = await connection_repo.get_connection_by_id(context.session, connection_id)
    if connection is None:
        raise JobFailed("connection_missing", "The Directo connection of this import was removed.")
    return connection


@contextlib.asynccontextmanager
async def reporting_health(
    context: JobContext, connection_id: uuid.UUID, *, work: Work | None = None
) -> AsyncIterator[None]:
    """Record a Directo failure on the connection's health in its own transaction (the
    job's own work is rolled back), then let the failure propagate — with `work`, as what a
    refusal turns out to be (`health.fail`: a feed the key lacks is `feed_not_activated`)."""
    try:
        yield
    except DirectoError as error:
        await health.fail(context.resources.sessionmaker, connection_id, error, work=work)


def _work(context: JobContext, feed: Feed, creds: DirectoCredentials) -> Work | None:
    """Articles out refused to a key that reads customers is `feed_not_activated`; a
    customers import refused is the token itself."""
    if feed is not Feed.ARTICLES:
        return None
    directo = context.resources.directo
    return Work(Feature.ARTICLE_IMPORT, (Capability.ARTICLES_OUT,), directo, creds)


def _tally(counts: dict[str, int], written: tuple[int, int]) -> None:
    counts["added"] += written[0]
    counts["updated"] += written[1]


def _without_codeless(
    rows: list[tuple[Any, ...]], feed: Feed, counts: dict[str, int], errors: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """The rows that have a code; each one without is counted and (up to a limit) listed."""
    record = "customer" if feed is Feed.CUSTOMERS else "article"
    for row in rows:
        if row[_CODE]:
            continue
        counts["without_code"] = counts.get("without_code", 0) + 1
        if len(errors) < MAX_RECORD_ERRORS:
            ts = row[_TS]
            errors.append(
                {
                    "code": "record_without_code",
                    "detail": f"Directo sent a {record} without a code; it was not imported.",
                    "name": row[_NAME] or None,
                    "directo_ts": ts.isoformat() if ts is not None else None,
                }
            )
    return [row for row in rows if row[_CODE]]


async def import_feed(context: JobContext) -> JobOutcome:
    """The `customers_import` / `articles_import` job (see the module docstring)."""
    feed = Feed(context.params["feed"])
    connection = await _load_connection(context)
    plan = _PLANS[feed]
    model = plan.model
    watermark_row = await catalog_repo.get_watermark(context.session, connection.id, feed.value)
    previous = watermark_row.watermark_ts if watermark_row else None
    full = bool(context.params.get("full")) or previous is None
    since = previous - OVERLAP if previous is not None and not full else None
    started = dt.datetime.now(dt.UTC)
    counts = {"read": 0, "added": 0, "updated": 0, "unchanged": 0, "marked_missing": 0}
    errors: list[dict[str, Any]] = []
    seen: list[str] = []
    newest = previous
    phase = f"reading {feed.value}"
    await context.progress(done=0, phase=phase)
    reported = time.monotonic()
    creds = credentials_of(connection, context.resources.secrets)
    writer = await catalog_repo.open_writer(
        context.session, model, connection_id=connection.id, columns=plan.columns
    )
    # Nothing of this connection stored yet: nothing can go missing, no need to list codes.
    track_seen = full and not writer.started_empty
    # The client's feeds are typed as giving models; this one gives rows.
    rows_feed: feeds.Feed[Any] = feeds.with_builder(plan.feed, plan.rows(connection.id))
    source = context.resources.directo.iter_feed(
        creds, rows_feed, filters={"ts": since}, batch_size=BATCH_SIZE
    )
    async with (
        reporting_health(context, connection.id, work=_work(context, feed, creds)),
        contextlib.aclosing(read_ahead(source, depth=READ_AHEAD)) as batches,
    ):
        # Pipelined: while one batch is written (mostly the database's work), the next is
        # read, parsed and turned into rows (`read_ahead`, the codec's thread). One write
        # at a time: the session has one connection, and writes keep feed order.
        writing: asyncio.Task[tuple[int, int]] | None = None
        try:
            async for rows in batches:
                counts["read"] += len(rows)
                if not all(map(_CODES, rows)):  # C-speed check; the split is the rare case
                    rows = _without_codeless(rows, feed, counts, errors)
                if track_seen:
                    seen.extend([row[_CODE] for row in rows])
                stamps = [row[_TS] for row in rows if row[_TS] is not None]
                if stamps and (newest is None or max(stamps) > newest):
                    newest = max(stamps)
                if writing is not None:
                    _tally(counts, await writing)
                writing = asyncio.create_task(writer.write(rows))
                await asyncio.sleep(0)  # the write sends its first statement before we go on
                if time.monotonic() - reported >= PROGRESS_EVERY:
                    # Its own committed transaction: at most one a second, not one a batch.
                    await context.progress(done=counts["read"], phase=phase)
                    reported = time.monotonic()
            if writing is not None:
                _tally(counts, await writing)
            await writer.finish()
        except BaseException:
            # The feed failed mid-way: let the write in flight and the writer's COPY finish
            # (their rows are rolled back with the rest) rather than cut a COPY off
            # mid-stream, then fail.
            if writing is not None:
                with contextlib.suppress(BaseException):
                    await writing
            with contextlib.suppress(BaseException):
                await writer.finish()
            raise
    counts["unchanged"] = (
        counts["read"] - counts["added"] - counts["updated"] - counts.get("without_code", 0)
    )
    if track_seen:
        counts["marked_missing"] = await catalog_repo.mark_missing(
            context.session, model, connection.id, seen=seen, at=started
        )
    await catalog_repo.save_watermark(
        context.session, connection.id, feed.value, watermark=newest, full=full, at=started
    )
    await health.report(context.session, connection.id, error_code=None)
    event = EventType.CUSTOMERS_IMPORTED if feed is Feed.CUSTOMERS else EventType.ARTICLES_IMPORTED
    await context.emit(
        event,
        {
            "job_id": str(context.job.id),
            "connection_id": str(connection.id),
            "client_id": connection.client_id,
            "full": full,
            "counts": counts,
        },
    )
    return JobOutcome(
        status=JobStatus.PARTIALLY_FAILED if errors else JobStatus.SUCCEEDED,
        counts=counts,
        errors=errors,
        result={"full": full, "watermark": newest.isoformat() if newest else None},
    )
