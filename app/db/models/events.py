"""The event outbox, webhook endpoints, and the log of deliveries and their attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, CreatedAt, Timestamps, UuidPrimaryKey
from app.db.models.enums import DeliveryStatus, text_enum


class WebhookEndpoint(UuidPrimaryKey, Timestamps, Base):
    __tablename__ = "webhook_endpoints"

    company_id: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(Text)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    secret_key_id: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None]


class CallbackSecret(CreatedAt, Base):
    """Per company: the secret that signs per-request callbacks."""

    __tablename__ = "callback_secrets"

    company_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    secret_key_id: Mapped[str] = mapped_column(String(64))
    revealed_at: Mapped[dt.datetime | None]


class CompanyEventSequence(Base):
    """The last event sequence number handed out per company (row lock serialises writers)."""

    __tablename__ = "company_event_sequences"

    company_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)


class Event(UuidPrimaryKey, CreatedAt, Base):
    """Outbox: written in the transaction of the change it announces."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("company_id", "sequence"),)

    company_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    # The request and the job that caused the event (no foreign key: events outlive jobs).
    request_id: Mapped[str | None] = mapped_column(String(128))
    job_id: Mapped[uuid.UUID | None]


class WebhookDelivery(UuidPrimaryKey, Timestamps, Base):
    """One event to one target: a registered endpoint or a per-request callback URL."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # A company's failing deliveries (failed, or retrying after a failed attempt).
        Index(
            "ix_webhook_deliveries_company_id_created_at_id_failing",
            "company_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'failed' OR (status = 'pending' AND attempts > 0)"),
        ),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    callback_url: Mapped[str | None] = mapped_column(Text)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        text_enum(DeliveryStatus, name="status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    locked_until: Mapped[dt.datetime | None]
    lease_token: Mapped[uuid.UUID | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]


class WebhookDeliveryAttempt(Base):
    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt_number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempt_number: Mapped[int]
    attempted_at: Mapped[dt.datetime]
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None]
