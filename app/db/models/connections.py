"""Integrations (Directo enabled per company), connections (credentials), clients and links."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamps, UuidPrimaryKey
from app.db.models.enums import ConnectionHealth, ConnectionScope, text_enum


class Integration(UuidPrimaryKey, Timestamps, Base):
    """Directo enabled (or disabled) for one Uku company, with its settings."""

    __tablename__ = "integrations"

    company_id: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    auto_confirm_invoices: Mapped[bool] = mapped_column(default=False)
    invoice_export_enabled: Mapped[bool] = mapped_column(default=False)
    enabled_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]


class Connection(UuidPrimaryKey, Timestamps, Base):
    """A Directo XML Direct credential for a company, or for one client of it (override).

    The token is stored only as AES-GCM ciphertext with the id of the key that sealed it;
    `token_hint` is its last four characters, the only part ever shown.

    A company (or client) has one current connection: the row with `retired_at` NULL. A
    connection whose token was replaced, on purpose, by one reaching another Directo
    database is retired, not changed: what was imported, linked and exported through it
    stays tied to it (the previous database's), and a new row serves the new database, so
    the two firms' books are never mixed. `replaced_by_id` points to that new row.
    """

    __tablename__ = "connections"
    __table_args__ = (
        Index(
            "uq_connections_current_company_id_client_id",
            "company_id",
            "client_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=text("retired_at IS NULL"),
        ),
        CheckConstraint(
            "(scope = 'company' AND client_id IS NULL)"
            " OR (scope = 'client' AND client_id IS NOT NULL)",
            name="scope_matches_client",
        ),
    )

    company_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[ConnectionScope] = mapped_column(text_enum(ConnectionScope, name="scope"))
    token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    token_key_id: Mapped[str] = mapped_column(String(64))
    token_hint: Mapped[str] = mapped_column(String(8))
    database_code: Mapped[str | None] = mapped_column(String(64))
    health: Mapped[ConnectionHealth] = mapped_column(
        text_enum(ConnectionHealth, name="health"), default=ConnectionHealth.UNTESTED
    )
    health_changed_at: Mapped[dt.datetime | None]
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    # What to do about the health (`degraded`: e.g. which feeds to ask Directo to activate).
    health_hint: Mapped[str | None] = mapped_column(Text)
    # Capabilities (`receipts_out` …) that configured features need and the token lacks:
    # set by a connection test, or by work that met the refusal; cleared by the next test.
    missing_feeds: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    last_test_at: Mapped[dt.datetime | None]
    last_test_ok: Mapped[bool | None]
    last_test_result: Mapped[dict[str, Any] | None]
    retired_at: Mapped[dt.datetime | None]
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL")
    )


class Client(UuidPrimaryKey, Timestamps, Base):
    """What the gateway knows of an Uku client: its country picks the public-holiday calendar."""

    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("company_id", "client_id"),)

    company_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2), default="EE")


class ClientLink(UuidPrimaryKey, Timestamps, Base):
    """An Uku client matched to a Directo customer of the company's database, by code."""

    __tablename__ = "client_links"
    __table_args__ = (
        UniqueConstraint("company_id", "client_id"),
        UniqueConstraint("company_id", "customer_code"),
    )

    company_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    customer_code: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL")
    )
