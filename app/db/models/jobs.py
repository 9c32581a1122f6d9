"""Background jobs: one row per unit of background work, the source of truth for its status.

arq only carries a job's id; everything a caller can see (status, progress, counts, errors)
lives here, so a job survives a Redis restart and reads the same from any API replica.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamps, UuidPrimaryKey
from app.db.models.enums import JobStatus, text_enum


class Job(UuidPrimaryKey, Timestamps, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Single flight: at most one unfinished job per key (e.g. "import:customers:<conn>").
        Index(
            "uq_jobs_singleflight_key_active",
            "singleflight_key",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running', 'interrupted')"),
        ),
        Index("ix_jobs_status_heartbeat_at", "status", "heartbeat_at"),
        # `GET /v1/jobs?company_id=…`, newest first.
        Index("ix_jobs_company_id_created_at_id", "company_id", "created_at", "id"),
    )

    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[JobStatus] = mapped_column(
        text_enum(JobStatus, name="status"), default=JobStatus.QUEUED
    )
    company_id: Mapped[str | None] = mapped_column(String(64), index=True)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL")
    )
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    phase: Mapped[str | None] = mapped_column(String(64))
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    result: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(default=0)
    run_token: Mapped[uuid.UUID | None]
    singleflight_key: Mapped[str | None] = mapped_column(String(255))
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    callback_url: Mapped[str | None] = mapped_column(Text)
    # The X-Request-ID of the API request that created the job (README: Request ids).
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
