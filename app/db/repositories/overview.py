"""Fleet-wide reads for the operations console: every company, and what runs or fails across
them. The API's routes answer one company at a time; an operator on call looks across all.
Each read is bounded (`limit`), newest or most urgent first."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Connection,
    DeliveryStatus,
    Event,
    ExportStatus,
    Integration,
    InvoiceExport,
    Job,
    JobStatus,
    Reload,
    WebhookDelivery,
    WebhookEndpoint,
)


async def integrations(session: AsyncSession, *, limit: int = 500) -> list[Integration]:
    """Every company with Directo enabled (or once enabled), by company id."""
    statement = select(Integration).order_by(Integration.company_id).limit(limit)
    return list((await session.execute(statement)).scalars())


async def current_connections(session: AsyncSession, company_id: str) -> list[Connection]:
    """The company's connection and its clients' own ones (not retired): company first."""
    statement = (
        select(Connection)
        .where(Connection.company_id == company_id, Connection.retired_at.is_(None))
        .order_by(Connection.client_id.asc().nulls_first())
    )
    return list((await session.execute(statement)).scalars())


async def connections_by_company(
    session: AsyncSession, company_ids: Collection[str]
) -> dict[str, list[Connection]]:
    """`current_connections` of many companies in one read."""
    grouped: dict[str, list[Connection]] = {company_id: [] for company_id in company_ids}
    if not company_ids:
        return grouped
    statement = (
        select(Connection)
        .where(Connection.company_id.in_(list(company_ids)), Connection.retired_at.is_(None))
        .order_by(Connection.company_id, Connection.client_id.asc().nulls_first())
    )
    for connection in (await session.execute(statement)).scalars():
        grouped[connection.company_id].append(connection)
    return grouped


async def jobs_with_status(
    session: AsyncSession, statuses: Collection[JobStatus], *, limit: int = 100
) -> list[Job]:
    """Jobs in these statuses, newest first."""
    statement = (
        select(Job)
        .where(Job.status.in_(list(statuses)))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def recent_reloads(session: AsyncSession, *, limit: int = 50) -> list[tuple[Reload, Job]]:
    """Reloads with their jobs, newest first."""
    statement = (
        select(Reload, Job)
        .join(Job, Job.id == Reload.job_id)
        .order_by(Reload.created_at.desc(), Reload.id.desc())
        .limit(limit)
    )
    return [(reload, job) for reload, job in await session.execute(statement)]


async def failed_exports(session: AsyncSession, *, limit: int = 100) -> list[InvoiceExport]:
    """Invoice exports that failed, newest failure first."""
    statement = (
        select(InvoiceExport)
        .where(InvoiceExport.status == ExportStatus.FAILED)
        .order_by(InvoiceExport.failed_at.desc().nulls_last(), InvoiceExport.id.desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def deliveries_failing_first(
    session: AsyncSession, *, limit: int = 100
) -> list[tuple[WebhookDelivery, Event, WebhookEndpoint | None]]:
    """Recent deliveries: given up (`failed`) first, then those retrying after a failed
    attempt (the API's "failing" list holds these two), then the rest; newest first within
    each."""
    urgency = case(
        (WebhookDelivery.status == DeliveryStatus.FAILED, 0),
        (and_(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.attempts > 0), 1),
        else_=2,
    )
    statement = (
        select(WebhookDelivery, Event, WebhookEndpoint)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .order_by(urgency, WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [
        (delivery, event, endpoint)
        for delivery, event, endpoint in await session.execute(statement)
    ]


async def endpoints(session: AsyncSession, *, limit: int = 200) -> list[WebhookEndpoint]:
    """Every company's registered endpoints (not deleted), by company."""
    statement = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.company_id, WebhookEndpoint.created_at)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())
