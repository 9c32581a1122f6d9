"""Imported Directo customers and articles, and the per-feed watermarks.

A `CatalogWriter` writes an import's batches: new records by COPY, changed ones (and ones
that come back after being missing) by one merge statement, unchanged ones not at all, so an
import of unchanged data writes nothing. A first import (nothing of its connection stored)
streams its batches into one COPY.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Text,
    all_,
    any_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import (
    Connection,
    DirectoArticle,
    DirectoCustomer,
    Integration,
    Job,
    SyncWatermark,
)
from app.db.models.enums import ACTIVE_JOB_STATUSES

CatalogModel = type[DirectoCustomer] | type[DirectoArticle]


@dataclass(frozen=True, slots=True)
class _Statements:
    """The SQL of one (model, columns) `CatalogWriter` (see there)."""

    table: str
    stage: str  # the staging table, in the session's own temporary schema
    any_stored: str
    lookup: str
    create_stage: str
    merge: str
    clear_stage: str


@functools.cache
def _statements(model: CatalogModel, columns: tuple[str, ...]) -> _Statements:
    """Identifiers come from the model's own columns, never from input; values are bound
    or travel by COPY.

    JSONB columns are staged as text and cast once, in the merge: text needs no per-value
    Python encoder, so a batch is copied entirely by asyncpg's C codecs.
    """
    table, name = model.__table__, model.__tablename__
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    jsonb = {
        column for column in columns if table.c[column].type.compile(dialect=dialect) == "JSONB"
    }
    staged = [
        f"CAST({column} AS TEXT) AS {column}" if column in jsonb else column for column in columns
    ]
    selected = [f"CAST({column} AS JSONB)" if column in jsonb else column for column in columns]
    updates = [
        f"{column} = excluded.{column}"
        for column in columns
        if column not in ("connection_id", "code")
    ]
    stage = f"{name}_stage"
    return _Statements(
        table=name,
        stage=stage,
        any_stored=f"SELECT EXISTS (SELECT FROM {name} WHERE connection_id = $1)",  # noqa: S608
        # One unique-index probe per code, whatever the planner knows of the table: the
        # LATERAL subquery (kept apart by OFFSET 0) can only be an index lookup. Left to
        # itself, `code = ANY(…)` is planned as "every row of the connection, filtered".
        lookup=(
            "SELECT c.code, t.content_hash, t.missing "  # noqa: S608
            "FROM unnest($2::varchar[]) AS c(code) CROSS JOIN LATERAL ("
            "SELECT content_hash, missing_since IS NOT NULL AS missing "
            f"FROM {name} WHERE connection_id = $1 AND code = c.code OFFSET 0) AS t"
        ),
        create_stage=(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {', '.join(staged)} FROM {name} WITH NO DATA"
        ),
        merge=(
            f"WITH written AS (INSERT INTO {name} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(selected)} FROM pg_temp.{stage} "
            "ON CONFLICT (connection_id, code) DO UPDATE SET "
            f"{', '.join(updates)}, missing_since = NULL, updated_at = now() "
            f"WHERE {name}.content_hash IS DISTINCT FROM excluded.content_hash "
            f"OR {name}.missing_since IS NOT NULL "
            "RETURNING 1) SELECT count(*) FROM written"
        ),
        clear_stage=f"TRUNCATE pg_temp.{stage}",
    )


class CatalogWriter:
    """Writes one import's batches of records into `directo_customers` / `directo_articles`
    in the session's transaction, touching only what changed.

    Each batch is compared with what the table holds (one indexed lookup of its codes and
    content hashes): new records are copied straight into the table (binary COPY, as a
    bulk load would), changed ones and ones marked missing go through a temporary staging
    table and one `INSERT … ON CONFLICT DO UPDATE` (which also unmarks them), and unchanged
    ones cost nothing more. Nothing is visible to others until the caller commits; a
    rollback undoes every batch. Use `open_writer`; one writer per import, batches in turn.

    When the table held nothing of the connection as the writer opened (`started_empty`,
    a first import), a record is new unless an earlier batch of this writer had its code.
    While every batch's codes are unseen and distinct (a set of the codes written so far
    says so), batches need no lookup and go into one COPY kept open across them (a
    `_CopyStream`): the database never waits between two batches' statements. Then
    `write` returns once the COPY has taken the batch, not once it is stored, and an
    error of the COPY is raised by a later `write` or by `finish`, which ends the COPY
    and must be awaited before the session does anything else (the connection is busy
    until then). From the first repeated code on, the COPY is finished and every batch
    is looked up as above; a code twice in one batch raises there, from its own COPY.
    """

    def __init__(
        self,
        driver: Any,
        sql: _Statements,
        *,
        connection_id: uuid.UUID,
        columns: tuple[str, ...],
        started_empty: bool = False,
    ) -> None:
        self._driver = driver  # the session's asyncpg connection, inside its transaction
        self._sql = sql
        self._connection_id = connection_id
        self._columns = columns
        self._code = columns.index("code")
        self._hash = columns.index("content_hash")
        self.started_empty = started_empty
        # The codes written, while every one is known to be new (None: look batches up).
        self._written: set[str] | None = set() if started_empty else None
        self._stream: _CopyStream | None = None
        self._statement_timeout = "0"  # the session's, saved while a stream lifts it

    async def write(self, records: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        """Write one batch; returns (inserted, updated).

        `records` are tuples of values in the writer's `columns` order, all of its
        connection, each code at most once in a batch (a repeated code raises
        `asyncpg.UniqueViolationError`); JSONB columns hold their JSON text.
        """
        if not records:
            return 0, 0
        code, content_hash = self._code, self._hash
        if self._written is not None:
            codes = {record[code] for record in records}
            if len(codes) == len(records) and self._written.isdisjoint(codes):
                self._written |= codes
                if self._stream is None:
                    self._stream = await self._open_stream()
                await self._stream.send(records)
                return len(records), 0
            self._written = None  # a code seen before: from now on, look up what is held
            await self.finish()  # the lookup must see every row streamed so far
        held = {
            row[0]: (row[1], row[2])
            for row in await self._driver.fetch(
                self._sql.lookup, self._connection_id, [record[code] for record in records]
            )
        }
        fresh: list[tuple[Any, ...]] = []
        changed: list[tuple[Any, ...]] = []
        for record in records:
            found = held.get(record[code])
            if found is None:
                fresh.append(record)
            elif found[1] or found[0] != record[content_hash]:  # missing, or new content
                changed.append(record)
        if fresh:
            await self._copy(fresh)
        return len(fresh), await self._merge(changed) if changed else 0

    async def finish(self) -> None:
        """Wait until every batch written is stored, raising what storing one raised.

        Call it after the last batch and before the session is used for anything else
        (also when the import fails: the rows are then rolled back with the rest). If it
        is itself interrupted, the COPY is aborted.
        """
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                await stream.end()
            except BaseException:
                stream.abort()  # never leave the connection inside a COPY
                raise
            await self._driver.execute(_SET_TIMEOUT, self._statement_timeout)

    async def _open_stream(self) -> _CopyStream:
        # A COPY from the client counts the time it waits for rows against
        # `statement_timeout`, and this one waits for the rest of the feed (minutes, from
        # a slow Directo): lift the timeout while it is open, in this transaction only.
        self._statement_timeout = await self._driver.fetchval("SHOW statement_timeout")
        await self._driver.execute(_SET_TIMEOUT, "0")
        return _CopyStream(self._driver, self._sql.table, self._columns)

    async def _copy(self, records: Sequence[tuple[Any, ...]]) -> None:
        await self._driver.copy_records_to_table(
            self._sql.table, records=records, columns=self._columns
        )

    async def _merge(self, records: list[tuple[Any, ...]]) -> int:
        await self._driver.copy_records_to_table(
            self._sql.stage, schema_name="pg_temp", records=records, columns=self._columns
        )
        updated = await self._driver.fetchval(self._sql.merge)
        await self._driver.execute(self._sql.clear_stage)
        return int(updated)


_SET_TIMEOUT = "SELECT set_config('statement_timeout', $1, true)"


class _CopyStream:
    """One COPY into ``table`` fed batch by batch, through a queue one batch deep.

    asyncpg copies the rows of an asynchronous iterator as they come, in its own task
    here; `send` hands it a batch (waiting while it still holds the one before) and
    `end` closes the iterator and waits for the COPY's answer. A failed COPY raises from
    the next `send` or from `end`. The iterator never raises: an import that fails ends
    the COPY normally (its rows go with the rolled-back transaction) rather than abort it
    mid-stream.
    """

    def __init__(self, driver: Any, table: str, columns: tuple[str, ...]) -> None:
        self._batches: asyncio.Queue[Sequence[tuple[Any, ...]] | None] = asyncio.Queue(1)
        self._copy: asyncio.Task[str] = asyncio.create_task(
            driver.copy_records_to_table(table, records=self._rows(), columns=columns)
        )

    async def _rows(self) -> AsyncIterator[tuple[Any, ...]]:
        while (batch := await self._batches.get()) is not None:
            for row in batch:
                yield row

    async def send(self, batch: Sequence[tuple[Any, ...]]) -> None:
        await self._hand(batch)

    async def end(self) -> None:
        await self._hand(None)
        await self._copy

    def abort(self) -> None:
        """Cut the COPY off (when `end` was itself cut short): asyncpg tells the database
        the COPY failed, and the connection can roll back."""
        self._copy.cancel()

    async def _hand(self, item: Sequence[tuple[Any, ...]] | None) -> None:
        putting = asyncio.ensure_future(self._batches.put(item))
        try:
            await asyncio.wait((putting, self._copy), return_when=asyncio.FIRST_COMPLETED)
        finally:
            taken = putting.done()
            if not taken:  # the COPY ended without taking it, or this wait was cancelled
                putting.cancel()
        if not taken:  # the COPY ended: it failed
            await self._copy
            raise RuntimeError("the COPY ended before its rows did")  # pragma: no cover


async def open_writer(
    session: AsyncSession,
    model: CatalogModel,
    *,
    connection_id: uuid.UUID,
    columns: tuple[str, ...],
) -> CatalogWriter:
    """A `CatalogWriter` for `model` rows of `connection_id` with these `columns` (which
    include `connection_id`, `code` and `content_hash`), in the session's transaction.

    Creates the writer's staging table (temporary, dropped at commit) through SQLAlchemy,
    which so begins the session's transaction if it has not yet: the writer then works on
    the asyncpg connection beneath it directly (COPY has no SQLAlchemy form). Also asks
    whether the table holds anything of the connection yet (`CatalogWriter.started_empty`).
    """
    sql = _statements(model, columns)
    connection = await session.connection()
    await connection.exec_driver_sql(sql.create_stage)
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - only a detached connection has none
        raise RuntimeError("the session's connection has no asyncpg connection")
    stored = bool(await driver.fetchval(sql.any_stored, connection_id))
    return CatalogWriter(
        driver, sql, connection_id=connection_id, columns=columns, started_empty=not stored
    )


async def mark_missing(
    session: AsyncSession,
    model: CatalogModel,
    connection_id: uuid.UUID,
    *,
    seen: list[str],
    at: dt.datetime,
) -> int:
    """After a complete full import: flag (never delete) records Directo no longer has."""
    outcome = await session.execute(
        update(model)
        .where(
            model.connection_id == connection_id,
            model.missing_since.is_(None),
            # One array parameter, not one bind per code: a feed can hold 400k codes.
            model.code != all_(bindparam("seen", value=seen, type_=ARRAY(Text))),
        )
        .values(missing_since=at)
    )
    return int(outcome.rowcount)  # type: ignore[attr-defined]


async def get_watermark(
    session: AsyncSession, connection_id: uuid.UUID, feed: str
) -> SyncWatermark | None:
    return await session.get(SyncWatermark, (connection_id, feed))


async def save_watermark(
    session: AsyncSession,
    connection_id: uuid.UUID,
    feed: str,
    *,
    watermark: dt.datetime | None,
    full: bool,
    at: dt.datetime,
) -> None:
    values: dict[str, Any] = {"watermark_ts": watermark, "last_run_at": at}
    if full:
        values["last_full_at"] = at
    statement = insert(SyncWatermark).values(connection_id=connection_id, feed=feed, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[SyncWatermark.connection_id, SyncWatermark.feed], set_=values
        )
    )


async def codes_of(
    session: AsyncSession, model: CatalogModel, connection_id: uuid.UUID
) -> set[str]:
    table = model.__table__
    return set(
        (
            await session.execute(
                select(table.c.code).where(table.c.connection_id == connection_id)
            )
        ).scalars()
    )


async def get_customer(
    session: AsyncSession, connection_id: uuid.UUID, code: str
) -> DirectoCustomer | None:
    return await session.scalar(
        select(DirectoCustomer).where(
            DirectoCustomer.connection_id == connection_id, DirectoCustomer.code == code
        )
    )


async def count_records(
    session: AsyncSession, model: CatalogModel, connection_id: uuid.UUID
) -> int:
    statement = select(func.count()).select_from(model).where(model.connection_id == connection_id)
    return int(await session.scalar(statement) or 0)


async def existing_codes(
    session: AsyncSession, model: CatalogModel, connection_id: uuid.UUID, codes: list[str]
) -> set[str]:
    """Which of `codes` the connection's imported records hold (not counting missing ones)."""
    statement = select(model.code).where(
        model.connection_id == connection_id,
        model.missing_since.is_(None),
        model.code == any_(bindparam("codes", value=codes, type_=ARRAY(Text))),
    )
    return set((await session.execute(statement)).scalars())


async def refresh_candidates(
    session: AsyncSession,
    *,
    feed: str,
    ran_before: dt.datetime,
    limit: int,
    pending_key_prefix: str | None = None,
) -> list[tuple[Connection, dt.datetime | None]]:
    """Connections of enabled integrations whose `feed` last ran before `ran_before` (or
    never), least recently refreshed first, each with that last run (one query). With
    `pending_key_prefix`, a connection with an unfinished job under the single-flight key
    `<prefix><connection id>` is left out (its import is already queued or running)."""
    watermark = aliased(SyncWatermark)
    pending = (
        select(Job.id)
        .where(
            Job.singleflight_key == func.concat(pending_key_prefix, Connection.id),
            Job.status.in_(ACTIVE_JOB_STATUSES),
        )
        .exists()
    )
    statement = (
        select(Connection, watermark.last_run_at)
        .join(Integration, Integration.company_id == Connection.company_id)
        .outerjoin(watermark, (watermark.connection_id == Connection.id) & (watermark.feed == feed))
        .where(
            Integration.enabled.is_(True),
            Connection.retired_at.is_(None),
            or_(watermark.last_run_at.is_(None), watermark.last_run_at < ran_before),
            true() if pending_key_prefix is None else ~pending,
        )
        .order_by(watermark.last_run_at.asc().nulls_first(), Connection.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in await session.execute(statement)]
