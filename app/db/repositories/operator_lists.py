"""The operator's lists: a company's jobs, reloads and failing webhook deliveries, newest
first, each page keyed by the (created_at, id) of the previous page's last row."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryStatus, Event, Job, JobStatus, Reload, WebhookDelivery

Position = tuple[dt.datetime, uuid.UUID]


def _older_than(created_at: Any, row_id: Any, before: Position | None) -> Any:
    if before is None:
        return True
    time, ident = before
    return or_(created_at < time, and_(created_at == time, row_id < ident))


async def list_jobs(
    session: AsyncSession,
    company_id: str,
    *,
    kinds: Collection[str] = (),
    statuses: Collection[JobStatus] = (),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: Position | None,
    limit: int,
) -> list[Job]:
    """The company's jobs created in [since, until), of the given kinds and statuses."""
    statement = (
        select(Job)
        .where(Job.company_id == company_id, _older_than(Job.created_at, Job.id, before))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    if kinds:
        statement = statement.where(Job.kind.in_(list(kinds)))
    if statuses:
        statement = statement.where(Job.status.in_(list(statuses)))
    if since is not None:
        statement = statement.where(Job.created_at >= since)
    if until is not None:
        statement = statement.where(Job.created_at < until)
    return list((await session.execute(statement)).scalars())


async def list_reloads(
    session: AsyncSession, company_id: str, *, before: Position | None, limit: int
) -> list[tuple[Reload, Job]]:
    """The company's reloads with their jobs."""
    statement = (
        select(Reload, Job)
        .join(Job, Job.id == Reload.job_id)
        .where(Reload.company_id == company_id, _older_than(Reload.created_at, Reload.id, before))
        .order_by(Reload.created_at.desc(), Reload.id.desc())
        .limit(limit)
    )
    return [(reload, job) for reload, job in await session.execute(statement)]


# Literal, as in the partial index `ix_webhook_deliveries_company_id_created_at_id_failing`,
# so the planner can use the index whatever the parameters.
FAILING = text(
    "(webhook_deliveries.status = 'failed'"
    " OR (webhook_deliveries.status = 'pending' AND webhook_deliveries.attempts > 0))"
)


async def company_deliveries(
    session: AsyncSession,
    company_id: str,
    *,
    failed_only: bool,
    before: Position | None,
    limit: int,
) -> list[tuple[WebhookDelivery, Event]]:
    """The company's failing deliveries (to its endpoints and callback URLs): given up
    (`failed`), and — unless `failed_only` — retrying after a failed attempt. The
    predicate includes the partial index's, so the index serves both."""
    statement = (
        select(WebhookDelivery, Event)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.company_id == company_id,
            FAILING,
            _older_than(WebhookDelivery.created_at, WebhookDelivery.id, before),
        )
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if failed_only:
        statement = statement.where(WebhookDelivery.status == DeliveryStatus.FAILED)
    return [(delivery, event) for delivery, event in await session.execute(statement)]
