"""Capability probe for "test connection": which feeds may this token use, and how fast.

Each probe makes one request without retries: a feed read whose filter matches nothing
(``ts`` far in the future, plus an impossible ``code`` for card feeds), or, for invoices
in, a put of an empty document set (Type 99 means the component answered, i.e. licensed;
Type 5 / ``Unauthorized`` means not). Nothing is written to Directo.

Directo answers "Unauthorized" both for a bad token and for a feed the token is not
licensed for; `probe_connection` tells them apart: when some feed works, the others'
refusals become ``feed_not_activated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from app.directo import feeds
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoAuthError, DirectoError, DirectoUnauthorized
from app.directo.schemas import PutResultKind

_NEVER = date(2999, 12, 31)
_NO_SUCH_CODE = "~directo-gateway-probe~"


class Capability(StrEnum):
    CUSTOMERS_OUT = "customers_out"
    ARTICLES_OUT = "articles_out"
    INVOICES_IN = "invoices_in"


@dataclass(frozen=True, slots=True)
class CapabilityResult:
    """One capability's verdict; ``code``/``hint`` are set when ``ok`` is false."""

    capability: Capability
    ok: bool
    latency_ms: float
    code: str | None = None
    hint: str | None = None


def _failed(capability: Capability, started: float, error: DirectoError) -> CapabilityResult:
    return CapabilityResult(capability, False, _ms(started), error.code, error.hint)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def probe_feed(
    client: DirectoClient, creds: DirectoCredentials, feed: feeds.Feed[Any], capability: Capability
) -> CapabilityResult:
    """Read ``feed`` with a filter that matches nothing; ok when Directo answers a feed."""
    filters: dict[str, feeds.FilterValue] = {"ts": _NEVER}
    if "code" in feed.filters:
        filters["code"] = _NO_SUCH_CODE
    started = time.perf_counter()
    try:
        stream = client.iter_feed(creds, feed, filters=filters, max_attempts=1)
        async with contextlib.aclosing(stream) as batches:
            async for _ in batches:
                pass
    except DirectoError as exc:
        return _failed(capability, started, exc)
    return CapabilityResult(capability, True, _ms(started))


async def probe_invoice_put(client: DirectoClient, creds: DirectoCredentials) -> CapabilityResult:
    """Put an empty invoice set; Type 99 (or any per-document answer but 5) means licensed."""
    started = time.perf_counter()
    try:
        answers = await client.put_invoices(creds, [], max_attempts=1)
    except DirectoError as exc:
        return _failed(capability=Capability.INVOICES_IN, started=started, error=exc)
    if any(answer.kind is PutResultKind.UNAUTHORIZED for answer in answers):
        error = DirectoUnauthorized("Directo refused the invoice put (type 5)")
        return _failed(Capability.INVOICES_IN, started, error)
    return CapabilityResult(Capability.INVOICES_IN, True, _ms(started))


async def probe_connection(
    client: DirectoClient, creds: DirectoCredentials
) -> list[CapabilityResult]:
    """Probe customers out, articles out and invoices in concurrently.

    A refusal on one capability while another works is reported as
    ``feed_not_activated`` (the token is fine; that component is not licensed for it).
    """
    verdicts = await asyncio.gather(
        probe_feed(client, creds, feeds.CUSTOMERS, Capability.CUSTOMERS_OUT),
        probe_feed(client, creds, feeds.ITEMS, Capability.ARTICLES_OUT),
        probe_invoice_put(client, creds),
    )
    if not any(verdict.ok for verdict in verdicts):
        return list(verdicts)
    return [_not_activated(verdict) for verdict in verdicts]


def _not_activated(verdict: CapabilityResult) -> CapabilityResult:
    if verdict.ok or verdict.code != DirectoAuthError.code:
        return verdict
    name = verdict.capability.value.replace("_", " ")
    return CapabilityResult(
        verdict.capability,
        False,
        verdict.latency_ms,
        "feed_not_activated",
        f"The key works but may not use '{name}': ask Directo to activate it for this key.",
    )
