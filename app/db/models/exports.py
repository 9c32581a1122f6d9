"""Invoices exported to Directo, and their payment status read back.

One row per accepted export request (``company_id`` + ``Idempotency-Key``). Its life:
``queued`` → ``sending`` (committed *before* the put, so a crash after it is recovered by
looking the number up in Directo) → ``sent`` or ``failed``. Once ``sent``, the payment
poll keeps ``total``/``balance``/``paid_amount``/``payment_status``/``paid_on`` current.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, CreatedAt, Timestamps, UuidPrimaryKey
from app.db.models.enums import ExportStatus, PaymentStatus, text_enum


class InvoiceExport(UuidPrimaryKey, Timestamps, Base):
    __tablename__ = "invoice_exports"
    __table_args__ = (
        UniqueConstraint("company_id", "idempotency_key"),
        Index("ix_invoice_exports_connection_id_directo_number", "connection_id", "directo_number"),
        Index("ix_invoice_exports_company_id_created_at", "company_id", "created_at", "id"),
        # The payment poll's work list: sent invoices not (yet) paid, per connection.
        Index(
            "ix_invoice_exports_awaiting_payment",
            "connection_id",
            postgresql_where=text(
                "status = 'sent' AND (payment_status IS NULL OR payment_status <> 'paid')"
            ),
        ),
        # The recovery sweep's work list: exports whose send has not ended.
        Index(
            "ix_invoice_exports_unsettled",
            "updated_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
        ),
    )

    company_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    request_body: Mapped[dict[str, Any]]
    uku_invoice_number: Mapped[str] = mapped_column(String(64))
    directo_number: Mapped[int] = mapped_column(BigInteger)
    customer_code: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    # Sum of the rows without VAT, as sent (what "is this Directo invoice ours?" compares).
    net_total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    # The invoice total with VAT as Directo reports it; NULL until Directo was read.
    total: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    status: Mapped[ExportStatus] = mapped_column(
        text_enum(ExportStatus, name="status"), default=ExportStatus.QUEUED
    )
    confirmed: Mapped[bool] = mapped_column(default=False)
    directo_docid: Mapped[str | None] = mapped_column(String(64))
    xml_sent: Mapped[str | None] = mapped_column(Text)
    xml_received: Mapped[str | None] = mapped_column(Text)
    result_type: Mapped[int | None]
    result_desc: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    errors: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    # A put was sent and neither its answer nor a look-up since has said whether Directo
    # stored the invoice: Directo may hold it, so the export keeps its number claimed.
    put_in_doubt: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    payment_status: Mapped[PaymentStatus | None] = mapped_column(
        text_enum(PaymentStatus, name="payment_status")
    )
    balance: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    paid_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    paid_on: Mapped[dt.date | None]
    directo_ts: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))
    payment_checked_at: Mapped[dt.datetime | None]
    payment_status_changed_at: Mapped[dt.datetime | None]
    paid_notified_at: Mapped[dt.datetime | None]


class InvoiceNumberClaim(CreatedAt, Base):
    """Which Uku invoice number holds a Directo number on a connection.

    `INV-2026-0042`, `B-2026-0042` and `2026/0042` all become Directo number 20260042:
    the primary key lets one Uku number at a time hold it, so two different invoices can
    never both be exported under it, however many requests race. Exports of the *same*
    Uku number (a retry under a new `Idempotency-Key`) share the claim: each re-claim
    points `export_id` at the newest. When its export fails in a way that leaves nothing
    in Directo, the claim moves to another live export of the number, or is released
    (see `app/exports/claims.py`).
    """

    __tablename__ = "invoice_number_claims"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    directo_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uku_invoice_number: Mapped[str] = mapped_column(String(64))
    # The export holding the claim: the newest that claimed it, or the one it moved to.
    export_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("invoice_exports.id", ondelete="CASCADE"), index=True
    )


class PaymentTermCode(CreatedAt, Base):
    """A connection's mapping of a payment term in days to its Directo database's code.

    Directo's invoice `paymentterm` is a code of the database's payment-term register
    (some databases use day counts as codes, others do not). Without a row for a day
    count, the day count itself is sent.
    """

    __tablename__ = "payment_term_codes"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    days: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
