"""Summary settings, monthly work statistics, and reloads (back-fills) of them."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, CreatedAt, Timestamps, UuidPrimaryKey
from app.db.models.enums import JobStatus, ReloadClientStatus, StatisticsRead, text_enum


class SummarySettings(Timestamps, Base):
    """Per company: the monthly summary task and which Directo fields feed which Uku fields."""

    __tablename__ = "summary_settings"

    company_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_title: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(Text)
    recurrence: Mapped[str] = mapped_column(String(16), default="monthly")
    import_day_rule: Mapped[str] = mapped_column(String(32))
    import_day: Mapped[int | None]
    field_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MonthlyStatistic(Base):
    """One field's value for one client and calendar month (`month` is its first day)."""

    __tablename__ = "monthly_statistics"
    __table_args__ = (UniqueConstraint("company_id", "client_id", "month", "field_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    month: Mapped[dt.date]
    field_key: Mapped[str] = mapped_column(String(64))
    value: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    uku_field_id: Mapped[str | None] = mapped_column(String(128))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    imported_at: Mapped[dt.datetime]


class Reload(UuidPrimaryKey, CreatedAt, Base):
    """A back-fill of N months of statistics for a company or some of its clients."""

    __tablename__ = "reloads"
    # `GET /v1/companies/{company_id}/directo/reloads`, newest first.
    __table_args__ = (
        Index("ix_reloads_company_id_created_at_id", "company_id", "created_at", "id"),
    )

    company_id: Mapped[str] = mapped_column(String(64), index=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), unique=True
    )
    months: Mapped[int]
    month_from: Mapped[dt.date]
    month_to: Mapped[dt.date]
    all_clients: Mapped[bool]
    status: Mapped[JobStatus] = mapped_column(
        text_enum(JobStatus, name="status"), default=JobStatus.QUEUED
    )
    phase: Mapped[str | None] = mapped_column(String(64))
    clients_total: Mapped[int] = mapped_column(default=0)
    clients_done: Mapped[int] = mapped_column(default=0)
    clients_failed: Mapped[int] = mapped_column(default=0)
    callback_url: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[dt.datetime | None]


class ReloadClient(Base):
    """One client's part of a reload, with its outcome."""

    __tablename__ = "reload_clients"

    reload_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reloads.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[ReloadClientStatus] = mapped_column(
        text_enum(ReloadClientStatus, name="status"), default=ReloadClientStatus.PENDING
    )
    months_written: Mapped[int] = mapped_column(default=0)
    error: Mapped[dict[str, Any] | None]
    finished_at: Mapped[dt.datetime | None]


class StatisticsReadRecord(CreatedAt, Base):
    """One scheduled read of a client's month (`first` or `settle`): claimed by the job that
    reads it when the job is created — so each is created once, whichever tick or worker
    gets there — and `completed_at` once its values are stored."""

    __tablename__ = "statistics_reads"

    company_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[dt.date] = mapped_column(primary_key=True)
    read_kind: Mapped[StatisticsRead] = mapped_column(
        text_enum(StatisticsRead, name="read_kind"), primary_key=True
    )
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    completed_at: Mapped[dt.datetime | None]
