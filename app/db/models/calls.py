"""The log of every Directo call (one row per HTTP attempt), kept for a configurable time."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, CreatedAt, UuidPrimaryKey


class DirectoCall(UuidPrimaryKey, CreatedAt, Base):
    """What one attempt asked of Directo and what came back — never a body or a token.

    `job_id` and `connection_id` carry no foreign key on purpose: the log is written in
    batches by a per-process buffer and must outlive (and never block) a pruned job or a
    deleted connection, and an FK check per inserted row is cost the hot paths need not
    pay. `created_at` is when the attempt ended.
    """

    __tablename__ = "directo_calls"
    __table_args__ = (
        Index("ix_directo_calls_job_id_created_at_id", "job_id", "created_at", "id"),
        Index("ix_directo_calls_created_at", "created_at"),
    )

    job_id: Mapped[uuid.UUID | None]
    request_id: Mapped[str | None] = mapped_column(String(128))
    connection_id: Mapped[uuid.UUID | None]
    feed: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(8))
    filters: Mapped[dict[str, Any]]
    http_status: Mapped[int | None]
    result_type: Mapped[str | None] = mapped_column(String(16))
    result_text: Mapped[str | None] = mapped_column(String(500))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    records: Mapped[int | None]
    duration_ms: Mapped[int]
    attempt: Mapped[int] = mapped_column(SmallInteger)
    error_code: Mapped[str | None] = mapped_column(String(64))
