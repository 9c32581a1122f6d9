"""What the sync-status view reads: a feed's last successful and failed runs, what it holds,
and the months of statistics stored per client."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    DirectoArticle,
    DirectoCustomer,
    ExportStatus,
    InvoiceExport,
    Job,
    JobStatus,
    MonthlyStatistic,
    PaymentStatus,
)

_SUCCEEDED = (JobStatus.SUCCEEDED, JobStatus.PARTIALLY_FAILED)


async def last_runs(
    session: AsyncSession,
    *,
    kinds: Collection[str],
    connection_id: uuid.UUID | None = None,
    company_id: str | None = None,
    client_ids: Collection[str] | None = None,
) -> tuple[Job | None, Job | None]:
    """(the last run that succeeded — wholly or partly —, the last that failed) among the
    finished jobs of `kinds`, of the connection, or of the company — and then, when
    `client_ids` is given, only those whose `params.client_id` is one of them or that name
    no client (a company-wide reload)."""
    base = select(Job).where(Job.kind.in_(list(kinds)), Job.finished_at.is_not(None))
    if connection_id is not None:
        base = base.where(Job.connection_id == connection_id)
    if company_id is not None:
        base = base.where(Job.company_id == company_id)
    if client_ids is not None:
        client = Job.params["client_id"].astext
        base = base.where(or_(client.is_(None), client.in_(list(client_ids))))
    newest = base.order_by(Job.finished_at.desc()).limit(1)
    succeeded = await session.scalar(newest.where(Job.status.in_(_SUCCEEDED)))
    failed = await session.scalar(newest.where(Job.status == JobStatus.FAILED))
    return succeeded, failed


async def catalogue_held(session: AsyncSession, connection_id: uuid.UUID, feed: str) -> int:
    """Customers or articles the connection holds (not counting those gone missing)."""
    model = DirectoCustomer if feed == "customers" else DirectoArticle
    statement = select(func.count()).where(
        model.connection_id == connection_id, model.missing_since.is_(None)
    )
    return int(await session.scalar(statement) or 0)


async def awaiting_payment(
    session: AsyncSession, connection_id: uuid.UUID
) -> tuple[int, dt.datetime | None]:
    """(sent exports of the connection not yet paid, when the oldest of them was created)."""
    statement = select(func.count(), func.min(InvoiceExport.created_at)).where(
        InvoiceExport.connection_id == connection_id,
        InvoiceExport.status == ExportStatus.SENT,
        or_(
            InvoiceExport.payment_status.is_(None),
            InvoiceExport.payment_status != PaymentStatus.PAID,
        ),
    )
    count, oldest = (await session.execute(statement)).one()
    return int(count or 0), oldest


async def exports_tracked(session: AsyncSession, connection_id: uuid.UUID) -> int:
    """Sent exports of the connection (whose paid status the poll keeps)."""
    statement = select(func.count()).where(
        and_(
            InvoiceExport.connection_id == connection_id,
            InvoiceExport.status == ExportStatus.SENT,
        )
    )
    return int(await session.scalar(statement) or 0)


async def statistics_held(
    session: AsyncSession, company_id: str, client_ids: Collection[str]
) -> tuple[dict[str, dt.date], int]:
    """(newest month stored per client, values stored in all) for the company's clients."""
    if not client_ids:
        return {}, 0
    statement = (
        select(MonthlyStatistic.client_id, func.max(MonthlyStatistic.month), func.count())
        .where(
            MonthlyStatistic.company_id == company_id,
            MonthlyStatistic.client_id.in_(list(client_ids)),
        )
        .group_by(MonthlyStatistic.client_id)
    )
    newest: dict[str, dt.date] = {}
    total = 0
    for client_id, month, count in await session.execute(statement):
        newest[client_id] = month
        total += int(count)
    return newest, total
