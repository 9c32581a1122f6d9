"""What the gateway read from Directo's customer and item feeds, and where each feed stopped."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, CreatedAt


class _CatalogRecord(CreatedAt):
    """Columns shared by every imported Directo record (one row per connection and code)."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text, default="")
    closed: Mapped[bool] = mapped_column(default=False)
    directo_ts: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))
    raw: Mapped[dict[str, Any]]
    content_hash: Mapped[bytes] = mapped_column(LargeBinary)
    search_text: Mapped[str] = mapped_column(Text, default="")
    missing_since: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]


class DirectoCustomer(_CatalogRecord, Base):
    __tablename__ = "directo_customers"
    __table_args__ = (
        UniqueConstraint("connection_id", "code"),
        Index(
            "ix_directo_customers_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    regno: Mapped[str | None] = mapped_column(String(64))
    vatregno: Mapped[str | None] = mapped_column(String(64))
    address1: Mapped[str | None] = mapped_column(Text)
    address2: Mapped[str | None] = mapped_column(Text)
    address3: Mapped[str | None] = mapped_column(Text)
    county: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(8))
    contact: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)


class DirectoArticle(_CatalogRecord, Base):
    __tablename__ = "directo_articles"
    __table_args__ = (
        UniqueConstraint("connection_id", "code"),
        Index(
            "ix_directo_articles_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    unit: Mapped[str | None] = mapped_column(String(32))


class SyncWatermark(Base):
    """The newest Directo `ts` fully imported for one connection and feed."""

    __tablename__ = "sync_watermarks"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    feed: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark_ts: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))
    last_run_at: Mapped[dt.datetime | None]
    last_full_at: Mapped[dt.datetime | None]
