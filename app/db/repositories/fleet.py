"""Deployment-wide figures for the metrics a worker serves: the job queue, the webhook
outbox, and how fresh each feed's imports are. Each is one aggregate query whose result
has a row per job kind or feed — never per company or connection. Ages are measured by the
database's clock, like the timestamps they compare."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Extract, and_, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.db.models import (
    Connection,
    DeliveryStatus,
    Integration,
    Job,
    JobStatus,
    SyncWatermark,
    WebhookDelivery,
)


@dataclass(frozen=True, slots=True)
class QueueRow:
    kind: str
    status: JobStatus
    jobs: int
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class Outbox:
    pending: int
    oldest_age_seconds: float  # 0 when nothing is pending


@dataclass(frozen=True, slots=True)
class Freshness:
    feed: str
    max_lag_seconds: float
    connections_within: tuple[int, ...]  # per threshold asked for, cumulative
    connections: int  # current connections that ever ran the feed


def _age(column: InstrumentedAttribute[dt.datetime]) -> Extract:
    """Seconds since the column's oldest value."""
    return extract("epoch", func.now() - func.min(column))


async def job_queue(session: AsyncSession) -> list[QueueRow]:
    """Queued and running jobs per kind, with the age of the oldest (since created)."""
    statement = (
        select(Job.kind, Job.status, func.count(), _age(Job.created_at))
        .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .group_by(Job.kind, Job.status)
    )
    return [
        QueueRow(kind=kind, status=status, jobs=int(jobs), oldest_age_seconds=float(age or 0))
        for kind, status, jobs, age in (await session.execute(statement)).all()
    ]


async def outbox(session: AsyncSession) -> Outbox:
    """Webhook deliveries not yet delivered (pending, retries included) and the oldest's age."""
    statement = select(func.count(), _age(WebhookDelivery.created_at)).where(
        WebhookDelivery.status == DeliveryStatus.PENDING
    )
    pending, age = (await session.execute(statement)).one()
    return Outbox(pending=int(pending), oldest_age_seconds=float(age or 0))


async def freshness(session: AsyncSession, *, thresholds: Sequence[float]) -> list[Freshness]:
    """Per feed, over the current connections of enabled integrations: the largest lag
    (now − the feed's last completed run) and how many connections are within each of
    `thresholds` seconds."""
    lag = extract("epoch", func.now() - SyncWatermark.last_run_at)
    statement = (
        select(
            SyncWatermark.feed,
            func.max(lag),
            func.count(),
            *(func.count().filter(lag <= limit) for limit in thresholds),
        )
        .join(Connection, Connection.id == SyncWatermark.connection_id)
        .join(
            Integration,
            and_(Integration.company_id == Connection.company_id, Integration.enabled.is_(True)),
        )
        .where(Connection.retired_at.is_(None), SyncWatermark.last_run_at.is_not(None))
        .group_by(SyncWatermark.feed)
    )
    return [
        Freshness(
            feed=feed,
            max_lag_seconds=float(max_lag or 0),
            connections=int(total),
            connections_within=tuple(int(count) for count in within),
        )
        for feed, max_lag, total, *within in (await session.execute(statement)).all()
    ]
