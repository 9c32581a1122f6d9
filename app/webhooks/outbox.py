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
from app.webhooks.types import EventType


async def emit(
    session: AsyncSession,
    *,
    company_id: str,
    type_: EventType,
    payload: dict[str, Any],
    callback_url: str | None = None,
) -> Event:
    """Record `type_` for `company_id` with its next sequence number, and its deliveries."""
    sequence = await event_repo.next_sequence(session, company_id)
    event = await event_repo.insert_event(
        session, company_id=company_id, type_=type_.value, payload=payload, sequence=sequence
    )
    await session.refresh(event, ["created_at"])
    endpoint_ids = await event_repo.subscribed_endpoint_ids(session, company_id, type_.value)
    await event_repo.add_deliveries(
        session, event, endpoint_ids=endpoint_ids, callback_url=callback_url
    )
    return event


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
