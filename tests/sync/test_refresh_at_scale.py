"""The catalogue refresh tick over thousands of connections: a fixed handful of SQL
statements per tick (counted on the engine), and never more than `sync.max_queued_jobs`
waiting in Redis — the rest wait in PostgreSQL and the watchdog queues them as room frees."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from arq.constants import job_key_prefix
from sqlalchemy import func, select, update

from app.db.models import Connection, ConnectionScope, Integration, Job, JobStatus
from app.resources import Resources
from app.security.contexts import token_context
from app.sync.refresh import MAX_PER_TICK
from app.worker.crons import refresh_catalogues, watchdog
from tests.support.statements import counted_statements

CONNECTIONS = 3000
QUEUE_CAP = 200


async def add_connections(db: Resources, count: int) -> None:
    rows: list[Any] = []
    for n in range(count):
        company, connection_id = f"scale-{n:04d}", uuid.uuid4()
        sealed = db.secrets.seal("t", context=token_context(connection_id))
        rows.append(Integration(id=uuid.uuid4(), company_id=company, enabled=True))
        rows.append(
            Connection(
                id=connection_id,
                company_id=company,
                scope=ConnectionScope.COMPANY,
                token_encrypted=sealed.ciphertext,
                token_key_id=sealed.key_id,
                token_hint="t",
            )
        )
    async with db.sessionmaker() as session, session.begin():
        session.add_all(rows)


async def queued_in_postgres(db: Resources) -> int:
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)
        )
    return int(count or 0)


async def run_jobs_from_redis(db: Resources, count: int) -> None:
    """What workers leave behind after running `count` queued jobs: gone from Redis
    (`keep_result=0`), finished in PostgreSQL."""
    redis, queue = db.queue._pool, db.queue.queue_name
    taken = [member.decode() for member, _ in await redis.zpopmin(queue, count)]
    assert len(taken) == count
    await redis.delete(*(job_key_prefix + arq_id for arq_id in taken))
    ids = [uuid.UUID(arq_id.rsplit(":", 1)[1]) for arq_id in taken]
    async with db.sessionmaker() as session, session.begin():
        await session.execute(update(Job).where(Job.id.in_(ids)).values(status=JobStatus.SUCCEEDED))


@pytest.mark.slow
async def test_refresh_ticks_scale_and_keep_the_queue_bounded(db: Resources) -> None:
    await add_connections(db, CONNECTIONS)
    sync = db.settings.sync.model_copy(update={"max_queued_jobs": QUEUE_CAP})
    capped = dataclasses.replace(db, settings=db.settings.model_copy(update={"sync": sync}))
    ctx: dict[str, Any] = {"resources": capped}

    with counted_statements(db) as statements:
        created = await refresh_catalogues(ctx)
    assert created == MAX_PER_TICK
    # One query of candidates and one multi-row INSERT (plus the transaction's own).
    assert len(statements) <= 4, statements
    assert await db.queue.waiting() == QUEUE_CAP
    assert await queued_in_postgres(db) == MAX_PER_TICK

    # Ticks go on while nothing runs: jobs pile up in PostgreSQL, never in Redis.
    for _ in range(2):
        with counted_statements(db) as statements:
            assert await refresh_catalogues(ctx) == MAX_PER_TICK
        assert len(statements) <= 4, statements
        assert await db.queue.waiting() == QUEUE_CAP
    assert await queued_in_postgres(db) == 3 * MAX_PER_TICK

    # Workers run 150 jobs; the watchdog tops the queue up again from PostgreSQL (jobs it
    # counts as stranded once idle for a minute), and no further.
    await run_jobs_from_redis(db, 150)
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(Job).values(updated_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 2))
        )
    with counted_statements(db) as statements:
        result = await watchdog(ctx)
    assert result == {"interrupted": 0, "requeued": 150}
    assert len(statements) <= 4, statements
    assert await db.queue.waiting() == QUEUE_CAP
