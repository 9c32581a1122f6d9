"""Webhook endpoints, callback secrets, and the delivery log (claiming and recording attempts)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import String, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    CallbackSecret,
    DeliveryStatus,
    Event,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)


async def add_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    session.add(endpoint)
    await session.flush()
    return endpoint


async def list_endpoints(session: AsyncSession, company_id: str) -> list[WebhookEndpoint]:
    statement = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.company_id == company_id, WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list((await session.execute(statement)).scalars())


async def get_endpoint(
    session: AsyncSession, company_id: str, endpoint_id: uuid.UUID
) -> WebhookEndpoint | None:
    return await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.company_id == company_id,
            WebhookEndpoint.deleted_at.is_(None),
        )
    )


async def disable_endpoint(session: AsyncSession, endpoint_id: uuid.UUID, *, reason: str) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason)
    )


async def get_callback_secret(
    session: AsyncSession, company_id: str, *, for_update: bool = False
) -> CallbackSecret | None:
    statement = select(CallbackSecret).where(CallbackSecret.company_id == company_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    delivery: WebhookDelivery
    event: Event
    endpoint: WebhookEndpoint | None
    lease_token: uuid.UUID


async def claim_due(
    session: AsyncSession,
    *,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    per_target: int,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due deliveries to this caller. `SKIP LOCKED` plus the lease mean
    two workers never hold the same delivery; a crashed holder's lease simply expires."""
    is_due = and_(
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    )
    # At most `per_target` deliveries of one endpoint (or callback URL) per batch, so a slow
    # receiver with a backlog cannot take every slot and hold up the others.
    target = func.coalesce(
        func.cast(WebhookDelivery.endpoint_id, String), WebhookDelivery.callback_url
    )
    ranked = (
        select(
            WebhookDelivery.id,
            func.row_number()
            .over(partition_by=target, order_by=WebhookDelivery.next_attempt_at)
            .label("rank"),
        )
        .where(is_due)
        .subquery()
    )
    due = (
        select(WebhookDelivery.id)
        .where(
            is_due,
            WebhookDelivery.id.in_(select(ranked.c.id).where(ranked.c.rank <= per_target)),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.execute(due)).scalars())
    if not ids:
        return []
    token = uuid.uuid4()
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(locked_until=now + lease, lease_token=token)
    )
    rows = await session.execute(
        select(WebhookDelivery, Event, WebhookEndpoint)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(ids))
        .execution_options(populate_existing=True)
    )
    return [ClaimedDelivery(delivery, event, endpoint, token) for delivery, event, endpoint in rows]


async def record_attempt(
    session: AsyncSession,
    claimed: ClaimedDelivery,
    *,
    attempted_at: dt.datetime,
    status_code: int | None,
    duration_ms: int,
    error: str | None,
    next_attempt_at: dt.datetime | None,
    final_status: DeliveryStatus,
) -> bool:
    """Record one attempt and the delivery's new state, if we still hold the lease."""
    number = claimed.delivery.attempts + 1
    outcome = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.delivery.id,
            WebhookDelivery.lease_token == claimed.lease_token,
        )
        .values(
            attempts=number,
            status=final_status,
            next_attempt_at=next_attempt_at,
            last_status_code=status_code,
            last_error=error,
            locked_until=None,
            lease_token=None,
            delivered_at=attempted_at if final_status == DeliveryStatus.SUCCEEDED else None,
        )
    )
    if not outcome.rowcount:  # type: ignore[attr-defined]
        return False
    session.add(
        WebhookDeliveryAttempt(
            delivery_id=claimed.delivery.id,
            attempt_number=number,
            attempted_at=attempted_at,
            status_code=status_code,
            duration_ms=duration_ms,
            error=error,
            next_attempt_at=next_attempt_at,
        )
    )
    await session.flush()
    return True


async def deliveries_page(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    before: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[tuple[WebhookDelivery, Event]]:
    """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
    statement = (
        select(WebhookDelivery, Event)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        created_at, delivery_id = before
        statement = statement.where(
            or_(
                WebhookDelivery.created_at < created_at,
                and_(WebhookDelivery.created_at == created_at, WebhookDelivery.id < delivery_id),
            )
        )
    return [(delivery, event) for delivery, event in await session.execute(statement)]


async def attempts_of(
    session: AsyncSession, delivery_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookDeliveryAttempt]]:
    grouped: dict[uuid.UUID, list[WebhookDeliveryAttempt]] = {
        delivery_id: [] for delivery_id in delivery_ids
    }
    if not delivery_ids:
        return grouped
    rows = await session.execute(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookDeliveryAttempt.attempt_number)
    )
    for attempt in rows.scalars():
        grouped[attempt.delivery_id].append(attempt)
    return grouped


async def get_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id)


async def schedule_redelivery(session: AsyncSession, delivery_id: uuid.UUID) -> None:
    """Make the delivery due now again; its attempt numbering continues."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=func.now(),
            locked_until=None,
            lease_token=None,
        )
    )
