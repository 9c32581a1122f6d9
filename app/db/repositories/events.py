"""The event outbox: per-company sequence numbers, events, and their pending deliveries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import correlation
from app.db.models import (
    CompanyEventSequence,
    DeliveryStatus,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
)


async def next_sequence(session: AsyncSession, company_id: str) -> int:
    """The company's next event number. The row lock this takes is held until commit, so
    events of one company commit in sequence order and a rollback leaves no gap."""
    statement = (
        insert(CompanyEventSequence)
        .values(company_id=company_id, last_sequence=1)
        .on_conflict_do_update(
            index_elements=[CompanyEventSequence.company_id],
            set_={"last_sequence": CompanyEventSequence.last_sequence + 1},
        )
        .returning(CompanyEventSequence.last_sequence)
    )
    return int((await session.execute(statement)).scalar_one())


async def insert_event(
    session: AsyncSession, *, company_id: str, type_: str, payload: dict[str, Any], sequence: int
) -> Event:
    event = Event(
        id=uuid.uuid4(),
        company_id=company_id,
        type=type_,
        payload=payload,
        sequence=sequence,
        # What caused it, from the context: the API request, or the job run (README: Request ids).
        request_id=correlation.REQUEST_ID.get(),
        job_id=correlation.JOB_ID.get(),
    )
    session.add(event)
    await session.flush()
    return event


async def subscribed_endpoint_ids(
    session: AsyncSession, company_id: str, type_: str
) -> list[uuid.UUID]:
    statement = select(WebhookEndpoint.id).where(
        WebhookEndpoint.company_id == company_id,
        WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.deleted_at.is_(None),
        or_(
            WebhookEndpoint.event_types == text("'[]'::jsonb"),
            WebhookEndpoint.event_types.contains([type_]),
        ),
    )
    return list((await session.execute(statement)).scalars())


async def add_deliveries(
    session: AsyncSession,
    event: Event,
    *,
    endpoint_ids: list[uuid.UUID],
    callback_url: str | None,
) -> None:
    targets: list[tuple[uuid.UUID | None, str | None]] = [
        (endpoint_id, None) for endpoint_id in endpoint_ids
    ]
    if callback_url:
        targets.append((None, callback_url))
    for endpoint_id, url in targets:
        session.add(
            WebhookDelivery(
                id=uuid.uuid4(),
                event_id=event.id,
                endpoint_id=endpoint_id,
                callback_url=url,
                company_id=event.company_id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=event.created_at,
            )
        )
    await session.flush()


async def events_after(
    session: AsyncSession, company_id: str, *, after_sequence: int, limit: int
) -> list[Event]:
    statement = (
        select(Event)
        .where(Event.company_id == company_id, Event.sequence > after_sequence)
        .order_by(Event.sequence)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())
