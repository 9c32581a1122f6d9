"""Classifying what httpx reports, and the per-attempt record handed to observers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from app.directo.errors import (
    DirectoError,
    DirectoResponseError,
    DirectoTimeout,
    DirectoTransportError,
    DirectoUnauthorized,
    DirectoUpstreamError,
)

# Failures that prove a put never reached Directo, so sending it again is safe.
SAFE_PUT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What one HTTP attempt did, for metrics, logs and the call log (never carries the
    token: `filters` are the query-string filters only, never the form body)."""

    op: str  # "get" or "put"
    what: str
    attempt: int
    seconds: float
    status_code: int | None
    error_code: str | None
    filters: Mapping[str, str] = field(default_factory=dict)
    bytes_received: int | None = None  # the body's size as read (a feed: what was streamed)
    records: int | None = None  # a feed's records decoded; a put's results
    result_type: str | None = None  # a put's first Directo `Type`
    result_text: str | None = None  # a put's first `Desc`, or the error's message / text
    connection_id: uuid.UUID | None = None  # `DirectoCredentials.connection_id`


def transport_error(exc: httpx.HTTPError) -> DirectoError:
    """The `DirectoError` for a network failure (timeouts get their own class)."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return DirectoTimeout(f"Directo timed out ({name})")
    return DirectoTransportError(f"talking to Directo failed ({name}: {exc})")


def status_error(status: int) -> DirectoError | None:
    """The `DirectoError` an HTTP status stands for, ``None`` for 2xx."""
    if status >= 500 or status == 429:
        return DirectoUpstreamError(f"Directo answered HTTP {status}", status_code=status)
    if status in {401, 403}:
        return DirectoUnauthorized(f"Directo answered HTTP {status}")
    if status >= 300:
        return DirectoResponseError(f"Directo answered HTTP {status}")
    return None
