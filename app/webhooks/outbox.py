"""Emitting events: call `emit` inside the transaction of the change being announced.

The event row and one pending delivery per subscribed endpoint (plus the per-request
callback, if any) are written in that same transaction, so nothing is announced that did
not commit and nothing that committed goes unannounced. Delivery happens later, in the
worker (`app/webhooks/delivery.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Event
from app.db.repositories import events as event_repo
from app.db.repositories.events import WrittenEvent
from app.webhooks.types import EventType


async def emit(
    session: AsyncSession,
    *,
    company_id: str,
    type_: EventType,
    payload: dict[str, Any],
    callback_url: str | None = None,
) -> WrittenEvent:
    """Record `type_` for `company_id` with its next sequence number, and its deliveries."""
    (event,) = await emit_many(
        session, company_id=company_id, type_=type_, payloads=[payload], callback_url=callback_url
    )
    return event


async def emit_many(
    session: AsyncSession,
    *,
    company_id: str,
    type_: EventType,
    payloads: list[dict[str, Any]],
    callback_url: str | None = None,
) -> list[WrittenEvent]:
    """Record one `type_` event per payload, numbered in order, and their deliveries: four
    statements however many there are (a month-end announces thousands)."""
    if not payloads:
        return []
    first = await event_repo.reserve_sequences(session, company_id, len(payloads))
    events = await event_repo.insert_events(
        session, company_id=company_id, type_=type_.value, payloads=payloads, first_sequence=first
    )
    endpoint_ids = await event_repo.subscribed_endpoint_ids(session, company_id, type_.value)
    await event_repo.add_deliveries(
        session, events, endpoint_ids=endpoint_ids, callback_url=callback_url
    )
    return events


def envelope(event: Event) -> dict[str, Any]:
    """The JSON body delivered for an event (also what the catch-up API lists)."""
    return {
        "id": str(event.id),
        "type": event.type,
        "company_id": event.company_id,
        "sequence": event.sequence,
        "timestamp": event.created_at.isoformat(),
        "data": event.payload,
    }
