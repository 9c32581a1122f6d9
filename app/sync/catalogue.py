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
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import unicodedata
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from app.connections import health
from app.connections.service import credentials_of
from app.db.models import Connection, DirectoArticle, DirectoCustomer
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import connections as connection_repo
from app.directo.errors import DirectoError
from app.directo.schemas import DirectoCustomer as CustomerRecord
from app.directo.schemas import DirectoItem as ItemRecord
from app.jobs.runner import JobContext, JobFailed, JobOutcome
from app.sync.imports import Feed
from app.webhooks.types import EventType

OVERLAP = dt.timedelta(hours=1)
BATCH_SIZE = 2000


# Combining marks (U+0300–U+036F) removed after NFKD decomposition; str.translate runs in C.
_COMBINING_MARKS = dict.fromkeys(range(0x0300, 0x0370))


def fold(text: str) -> str:
    """Lower case without diacritics: "Õunapuu" → "ounapuu", for accent-insensitive search.

    Letters without a decomposition (Cyrillic, "ø" …) are kept, only lower-cased.
    """
    folded = text.casefold()
    if folded.isascii():
        return folded
    return unicodedata.normalize("NFKD", folded).translate(_COMBINING_MARKS)


def _common(record: CustomerRecord | ItemRecord, connection_id: uuid.UUID) -> dict[str, Any]:
    raw: dict[str, Any] = dict(record.raw)
    if record.datafields:
        raw["datafields"] = [field.raw for field in record.datafields]
    # One canonical JSON text is both the stored document and the content-hash input.
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {
        "connection_id": connection_id,
        "code": record.code,
        "name": record.name or "",
        "closed": record.closed,
        "directo_ts": record.ts,
        "raw": catalog_repo.JsonText(canonical),
        "content_hash": hashlib.sha256(canonical.encode()).digest(),
    }


def customer_row(record: CustomerRecord, connection_id: uuid.UUID) -> dict[str, Any]:
    return {
        **_common(record, connection_id),
        "search_text": fold(
            " ".join(filter(None, (record.name, record.code, record.regno, record.vatregno)))
        ),
        "regno": record.regno,
        "vatregno": record.vatregno,
        "address1": record.address1,
        "address2": record.address2,
        "address3": record.address3,
        "county": record.county,
        "country": record.country,
        "contact": record.contact,
        "email": record.email,
        "phone": record.phone,
    }


def article_row(record: ItemRecord, connection_id: uuid.UUID) -> dict[str, Any]:
    return {
        **_common(record, connection_id),
        "search_text": fold(" ".join(filter(None, (record.name, record.code)))),
        "unit": record.unit,
    }


@dataclass(frozen=True, slots=True)
class _FeedPlan:
    model: type[DirectoCustomer] | type[DirectoArticle]
    to_row: Callable[[Any, uuid.UUID], dict[str, Any]]
    iterate: Callable[..., AsyncGenerator[list[Any], None]]


def _plan(feed: Feed, context: JobContext) -> _FeedPlan:
    directo = context.resources.directo
    if feed is Feed.CUSTOMERS:
        return _FeedPlan(DirectoCustomer, customer_row, directo.iter_customers)
    return _FeedPlan(DirectoArticle, article_row, directo.iter_items)


async def _load_connection(context: JobContext) -> Connection:
    connection_id = context.job.connection_id
    connection = None
    if connection_id is not None:
        connection = await connection_repo.get_connection_by_id(context.session, connection_id)
    if connection is None:
        raise JobFailed("connection_missing", "The Directo connection of this import was removed.")
    return connection


@contextlib.asynccontextmanager
async def reporting_health(context: JobContext, connection_id: uuid.UUID) -> AsyncIterator[None]:
    """Record a Directo failure on the connection's health in its own transaction (the
    job's own work is rolled back), then let the failure propagate."""
    try:
        yield
    except DirectoError as error:
        async with context.resources.sessionmaker() as session, session.begin():
            await health.report(session, connection_id, error_code=error.code, hint=error.hint)
        raise


def _tally(counts: dict[str, int], written: tuple[int, int]) -> None:
    counts["added"] += written[0]
    counts["updated"] += written[1]


async def import_feed(context: JobContext) -> JobOutcome:
    """The `customers_import` / `articles_import` job (see the module docstring)."""
    feed = Feed(context.params["feed"])
    connection = await _load_connection(context)
    plan = _plan(feed, context)
    model, to_row, iterate = plan.model, plan.to_row, plan.iterate
    watermark_row = await catalog_repo.get_watermark(context.session, connection.id, feed.value)
    previous = watermark_row.watermark_ts if watermark_row else None
    full = bool(context.params.get("full")) or previous is None
    since = previous - OVERLAP if previous is not None and not full else None
    started = dt.datetime.now(dt.UTC)
    counts = {"read": 0, "added": 0, "updated": 0, "unchanged": 0, "marked_missing": 0}
    seen: list[str] = []
    newest = previous
    await context.progress(done=0, phase=f"reading {feed.value}")
    creds = credentials_of(connection, context.resources.secrets)
    async with (
        reporting_health(context, connection.id),
        contextlib.aclosing(iterate(creds, ts=since, batch_size=BATCH_SIZE)) as batches,
    ):
        # Build the next batch's rows while the previous batch is being written.
        writing: asyncio.Task[tuple[int, int]] | None = None
        try:
            async for batch in batches:
                rows = [to_row(record, connection.id) for record in batch]
                if writing is not None:
                    _tally(counts, await writing)
                writing = asyncio.create_task(
                    catalog_repo.upsert_batch(context.session, model, rows)
                )
                counts["read"] += len(rows)
                if full:
                    seen.extend(record.code for record in batch)
                stamps = [record.ts for record in batch if record.ts is not None]
                if stamps and (newest is None or max(stamps) > newest):
                    newest = max(stamps)
                await context.progress(done=counts["read"], phase=f"reading {feed.value}")
            if writing is not None:
                _tally(counts, await writing)
        except BaseException:
            # The feed failed mid-way: let an in-flight write settle before the rollback.
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(BaseException):
                    await writing
            raise
    counts["unchanged"] = counts["read"] - counts["added"] - counts["updated"]
    if full:
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
        counts=counts, result={"full": full, "watermark": newest.isoformat() if newest else None}
    )
