"""Recording every Directo call without slowing the calls down.

The Directo client reports one `CallRecord` per HTTP attempt to its observer. `CallLog` is
that observer's second half (metrics are the first): it turns a record into a row — tagged
with the request id and job id bound in `app.correlation` at that moment — and appends it
to an in-memory buffer. Nothing touches the database on the call's path. The buffer is
written in one batched INSERT by `flush`: the job runner flushes at the end of every run,
and `periodic_flush` flushes every `call_log.flush_seconds` in every process (API calls,
and long jobs). A failed flush keeps the rows for the next one; the buffer is bounded, so
a long database outage drops the oldest rows (counted, logged) rather than memory.

Only bounded facts are kept: the query-string filters (the token and `xmldata` travel in
the form body and never reach a `CallRecord`; a key named like a secret is dropped anyway),
texts truncated, no feed or put bodies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.correlation import JOB_ID, REQUEST_ID
from app.db.errors import DatabaseFailure, classify
from app.db.repositories import directo_calls as call_repo
from app.directo.transport import CallRecord

log = structlog.get_logger(__name__)

MAX_BUFFERED = 20_000
MAX_TEXT = 500
MAX_FILTER_VALUE = 200
_SECRET_KEYS = frozenset({"token", "key", "xmldata", "password", "secret"})


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def row_of(record: CallRecord, *, now: dt.datetime) -> dict[str, Any]:
    """The `directo_calls` row of one attempt, tagged with the bound request and job ids."""
    filters = {
        name: value[:MAX_FILTER_VALUE]
        for name, value in record.filters.items()
        if name.lower() not in _SECRET_KEYS
    }
    return {
        "id": uuid.uuid4(),
        "job_id": JOB_ID.get(),
        "request_id": _clip(REQUEST_ID.get(), 128),
        "connection_id": record.connection_id,
        "feed": record.what[:32],
        "operation": record.op[:8],
        "filters": filters,
        "http_status": record.status_code,
        "result_type": _clip(record.result_type, 16),
        "result_text": _clip(record.result_text, MAX_TEXT),
        "bytes": record.bytes_received,
        "records": record.records,
        "duration_ms": round(record.seconds * 1000),
        "attempt": record.attempt,
        "error_code": _clip(record.error_code, 64),
        "created_at": now,
    }


class CallLog:
    """A process's buffer of Directo calls not yet written (see the module docstring)."""

    def __init__(self, *, max_buffered: int = MAX_BUFFERED) -> None:
        self._rows: deque[dict[str, Any]] = deque(maxlen=max_buffered)
        self.dropped = 0

    def record(self, record: CallRecord) -> None:
        """Buffer one attempt (the Directo client's observer; no I/O)."""
        self.record_row(row_of(record, now=dt.datetime.now(dt.UTC)))

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def flush(self, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        """Write every buffered call in one transaction; returns how many were written.

        On a database error the rows go back to the buffer (bounded) for the next flush
        and nothing is raised: losing the log must never fail the work it describes.
        """
        if not self._rows:
            return 0
        rows = list(self._rows)
        self._rows.clear()
        try:
            async with sessionmaker() as session, session.begin():
                await call_repo.insert_calls(session, rows)
        except (SQLAlchemyError, OSError, asyncio.CancelledError) as exc:
            if not _worth_retrying(exc):
                # Rows the database will never take (a bug): keeping them would block
                # every later flush behind them.
                self.dropped += len(rows)
                log.error("call_log_rows_refused", error=type(exc).__name__, rows=len(rows))
                return 0
            newer = list(self._rows)
            self._rows.clear()
            for row in [*rows, *newer]:
                self.record_row(row)
            if isinstance(exc, asyncio.CancelledError):
                raise  # the owner flushes once more on its way out
            log.warning("call_log_flush_failed", error=type(exc).__name__, pending=self.pending)
            return 0
        return len(rows)

    def record_row(self, row: dict[str, Any]) -> None:
        """Buffer a row; a full buffer pushes its oldest row out (counted in `dropped`)."""
        if len(self._rows) == self._rows.maxlen:
            self.dropped += 1
        self._rows.append(row)


def observer(*observers: Callable[[CallRecord], None]) -> Callable[[CallRecord], None]:
    """One observer that hands each record to every one of `observers`, in order."""

    def observe(record: CallRecord) -> None:
        for each in observers:
            each(record)

    return observe


async def periodic_flush(
    call_log: CallLog, sessionmaker: async_sessionmaker[AsyncSession], *, every: float
) -> None:
    """Flush `call_log` every `every` seconds until cancelled (the owner flushes once more
    after cancelling it)."""
    while True:
        await asyncio.sleep(every)
        await call_log.flush(sessionmaker)


def _worth_retrying(exc: BaseException) -> bool:
    """A flush failed for a moment (the database busy or away, the task cancelled), not
    because of its rows."""
    if isinstance(exc, SQLAlchemyError):
        return classify(exc) in {DatabaseFailure.BUSY, DatabaseFailure.UNAVAILABLE}
    return True
