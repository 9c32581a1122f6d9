"""Classifying what httpx reports, and the per-attempt record handed to observers."""

from __future__ import annotations

from dataclasses import dataclass

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
    """What one HTTP attempt did, for metrics and logs (never carries the token)."""

    op: str  # "get" or "put"
    what: str
    attempt: int
    seconds: float
    status_code: int | None
    error_code: str | None


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
