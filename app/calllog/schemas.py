"""The Directo call log as the API shows it."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from app.db.models import DirectoCall


class CallOut(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID | None
    request_id: str | None = Field(description="The X-Request-ID the call was made under")
    connection_id: uuid.UUID | None
    feed: str = Field(description="Directo's `what`: customer, item, invoice, receipt, …")
    operation: str = Field(description="`get` (a feed read) or `put`")
    filters: dict[str, str] = Field(
        description="The filters sent, as sent (dates in the configured format); never the token"
    )
    http_status: int | None = Field(description="null when no HTTP answer came")
    result_type: str | None = Field(description="A put's first Directo result `Type`")
    result_text: str | None = Field(
        description="A put's first result `Desc`, or the error's text (≤ 500 characters)"
    )
    bytes: int | None = Field(description="Bytes of the answer read")
    records: int | None = Field(description="Records decoded from a feed; results of a put")
    duration_ms: int
    attempt: int = Field(description="1 for the first attempt; retries count up")
    error_code: str | None = Field(description="The gateway's code for a failed attempt")
    created_at: dt.datetime = Field(description="When the attempt ended")

    @classmethod
    def of(cls, row: DirectoCall) -> CallOut:
        return cls(
            id=row.id,
            job_id=row.job_id,
            request_id=row.request_id,
            connection_id=row.connection_id,
            feed=row.feed,
            operation=row.operation,
            filters={str(key): str(value) for key, value in row.filters.items()},
            http_status=row.http_status,
            result_type=row.result_type,
            result_text=row.result_text,
            bytes=row.bytes,
            records=row.records,
            duration_ms=row.duration_ms,
            attempt=row.attempt,
            error_code=row.error_code,
            created_at=row.created_at,
        )


class CallPage(BaseModel):
    items: list[CallOut]
    next_cursor: str | None
