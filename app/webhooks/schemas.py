"""Webhooks: request and response bodies of the API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.db.models import (
    DeliveryStatus,
    Event,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from app.webhooks.types import EventType


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="https URL that receives POSTs")
    event_types: list[EventType] = Field(
        default_factory=list, max_length=20, description="Subscribed event types; empty means all"
    )
    description: str | None = Field(default=None, max_length=500)


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            event_types=endpoint.event_types,
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
        )


class EndpointCreated(EndpointOut):
    secret: str = Field(description="Signing secret (whsec_…); shown only in this response")


class EndpointList(BaseModel):
    items: list[EndpointOut]


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: dt.datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    next_attempt_at: dt.datetime | None

    @classmethod
    def of(cls, attempt: WebhookDeliveryAttempt) -> AttemptOut:
        return cls(
            attempt=attempt.attempt_number,
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            duration_ms=attempt.duration_ms,
            error=attempt.error,
            next_attempt_at=attempt.next_attempt_at,
        )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    endpoint_id: uuid.UUID | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    attempt_log: list[AttemptOut]

    @classmethod
    def of(
        cls, delivery: WebhookDelivery, event: Event, attempts: list[WebhookDeliveryAttempt]
    ) -> DeliveryOut:
        return cls(
            id=delivery.id,
            event_id=event.id,
            event_type=event.type,
            endpoint_id=delivery.endpoint_id,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
            attempt_log=[AttemptOut.of(attempt) for attempt in attempts],
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class EventOut(BaseModel):
    id: uuid.UUID
    type: str
    company_id: str
    sequence: int
    timestamp: dt.datetime
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_after_sequence: int = Field(description="Pass as after_sequence to continue")


class CallbackSecretOut(BaseModel):
    secret: str = Field(description="Signs per-request callbacks; shown only in this response")
