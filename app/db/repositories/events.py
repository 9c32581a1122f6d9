"""The event outbox: per-company sequence numbers, events, and their pending deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import correlation
from app.db.base import table_of
from app.db.models import (
    CompanyEventSequence,
    DeliveryStatus,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
)


async def reserve_sequences(session: AsyncSession, company_id: str, count: int) -> int:
    """Reserve the company's next `count` event numbers; returns the first. The row lock
    this takes is held until commit, so events of one company commit in sequence order and
    a rollback leaves no gap."""
    statement = (
        insert(CompanyEventSequence)
        .values(company_id=company_id, last_sequence=count)
        .on_conflict_do_update(
            index_elements=[CompanyEventSequence.company_id],
            set_={"last_sequence": CompanyEventSequence.last_sequence + count},
        )
        .returning(CompanyEventSequence.last_sequence)
    )
    return int((await session.execute(statement)).scalar_one()) - count + 1


@dataclass(frozen=True, slots=True)
class WrittenEvent:
    """An event as written: what its deliveries and callers need of it."""

    id: uuid.UUID
    company_id: str
    sequence: int
    created_at: dt.datetime


async def insert_events(
    session: AsyncSession,
    *,
    company_id: str,
    type_: str,
    payloads: list[dict[str, Any]],
    first_sequence: int,
) -> list[WrittenEvent]:
    """Write one event per payload, numbered from `first_sequence`, in one statement."""
    # What caused them, from the context: the API request, or the job run (README: Request ids).
    request_id, job_id = correlation.REQUEST_ID.get(), correlation.JOB_ID.get()
    ids = [uuid.uuid4() for _ in payloads]
    rows = [
        {
            "id": event_id,
            "company_id": company_id,
            "type": type_,
            "payload": payload,
            "sequence": first_sequence + index,
            "request_id": request_id,
            "job_id": job_id,
        }
        for index, (event_id, payload) in enumerate(zip(ids, payloads, strict=True))
    ]
    table = table_of(Event)
    statement = insert(table).returning(table.c.created_at, sort_by_parameter_order=True)
    created = (await session.execute(statement, rows)).scalars().all()
    return [
        WrittenEvent(event_id, company_id, first_sequence + index, created_at)
        for index, (event_id, created_at) in enumerate(zip(ids, created, strict=True))
    ]


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
    events: list[WrittenEvent],
    *,
    endpoint_ids: list[uuid.UUID],
    callback_url: str | None,
) -> None:
    """One pending delivery of each event per endpoint (and to the callback URL), in one
    statement."""
    targets: list[tuple[uuid.UUID | None, str | None]] = [
        (endpoint_id, None) for endpoint_id in endpoint_ids
    ]
    if callback_url:
        targets.append((None, callback_url))
    rows = [
        {
            "id": uuid.uuid4(),
            "event_id": event.id,
            "endpoint_id": endpoint_id,
            "callback_url": url,
            "company_id": event.company_id,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": event.created_at,
        }
        for event in events
        for endpoint_id, url in targets
    ]
    if rows:
        await session.execute(insert(table_of(WebhookDelivery)), rows)


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
