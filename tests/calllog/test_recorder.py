"""The call log's buffer, its batched flush, and the worker's pruning, on the real database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from app.calllog.recorder import CallLog
from app.correlation import bound
from app.db.models import DirectoCall
from app.db.session import create_sessionmaker
from app.directo.transport import CallRecord
from app.resources import Resources
from app.worker.crons import prune_directo_calls


def _record(**changes: object) -> CallRecord:
    values: dict[str, object] = {
        "op": "get", "what": "customer", "attempt": 1, "seconds": 0.25, "status_code": 200,
        "error_code": None, "filters": {"ts": "01.12.2026 10:00"}, "records": 3,
    }  # fmt: skip
    return CallRecord(**(values | changes))  # type: ignore[arg-type]


async def _count(db: Resources) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(DirectoCall)) or 0)


async def test_a_flush_writes_the_buffer_tagged_and_without_secrets(db: Resources) -> None:
    log = CallLog()
    with bound(request_id="req-1"):
        log.record(_record(filters={"ts": "x", "token": "s3cret", "Key": "s3cret"}))
    log.record(_record(result_text="y" * 2000))
    assert await log.flush(db.sessionmaker) == 2
    assert log.pending == 0
    async with db.sessionmaker() as session:
        rows = list((await session.execute(select(DirectoCall))).scalars())
    by_request = {row.request_id: row for row in rows}
    assert by_request["req-1"].filters == {"ts": "x"}
    assert by_request["req-1"].duration_ms == 250
    assert len(by_request[None].result_text or "") == 500


async def test_a_failed_flush_keeps_the_rows_and_the_buffer_is_bounded(db: Resources) -> None:
    log = CallLog(max_buffered=3)
    for _ in range(5):
        log.record(_record())
    assert (log.pending, log.dropped) == (3, 2)
    unreachable = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    try:
        assert await log.flush(create_sessionmaker(unreachable)) == 0
    finally:
        await unreachable.dispose()
    assert log.pending == 3
    assert await log.flush(db.sessionmaker) == 3


async def test_the_worker_prunes_calls_older_than_the_retention(db: Resources) -> None:
    log = CallLog()
    for _ in range(3):
        log.record(_record())
    await log.flush(db.sessionmaker)
    days = db.settings.call_log.retention_days
    async with db.sessionmaker() as session, session.begin():
        oldest = select(DirectoCall.id).limit(2).scalar_subquery()
        await session.execute(
            update(DirectoCall)
            .where(DirectoCall.id.in_(oldest))
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days, minutes=1))
        )
    assert await prune_directo_calls({"resources": db}) == 2
    assert await _count(db) == 1


async def test_rows_already_stored_or_never_storable_do_not_block_later_flushes(
    db: Resources,
) -> None:
    log = CallLog()
    log.record(_record())
    stored = list(log._rows)  # a flush whose commit landed but whose answer was lost
    assert await log.flush(db.sessionmaker) == 1
    for row in stored:
        log.record_row(row)  # … so its rows came back to the buffer
    log.record(_record(what="item"))
    assert await log.flush(db.sessionmaker) == 2  # the stored one is skipped, not an error
    assert await _count(db) == 2

    log.record(_record(result_text="nul \x00 in a text PostgreSQL refuses"))
    assert await log.flush(db.sessionmaker) == 0
    assert (log.pending, log.dropped) == (0, 1)  # dropped and counted, not kept for ever
    log.record(_record(what="invoice"))
    assert await log.flush(db.sessionmaker) == 1
    assert await _count(db) == 3
