"""Capability probe for "test connection": which feeds may this token use, and how fast.

Each probe makes one request without retries and writes nothing to Directo:

* an output feed ("… out") is read with filters that match nothing: ``ts`` far in the
  future, an impossible ``code`` for the card feeds (customers, items), and a
  ``date1``/``date2`` day far in the future for the document feeds. Every probe date is
  31.12.2078: its day is above 12, so a server that reads dates month-first cannot take it
  for another day — it refuses it ("Invalid date"), which is reported as
  ``date_format_mismatch`` instead of every later incremental read silently shifting. (The
  year stays below 2079: SQL Server's ``smalldatetime`` ends in June 2079, and a date out of
  its range would be refused for another reason.)
* invoices in: a put of an empty document set (Type 99 means the component answered, i.e.
  licensed; Type 5 / ``Unauthorized`` means not).

Directo answers "Unauthorized" both for a bad token and for a feed the token is not
licensed for; `probe_connection` tells them apart: when some feed works, the others'
refusals become ``feed_not_activated``. `DirectoFeedNotActivated` is the error work raises
once such a refusal has been told apart (see ``app/connections/capabilities.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from app.directo import feeds
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import (
    DirectoAuthError,
    DirectoDecodeError,
    DirectoError,
    DirectoResponseError,
    DirectoUnauthorized,
)
from app.directo.schemas import PutResultKind

PROBE_DAY = date(2078, 12, 31)
_NO_SUCH_CODE = "~directo-gateway-probe~"
# Probes of one test run at once, but no more than this many calls to one Directo at a time.
_CONCURRENCY = 4
# How Directo words a filter date it cannot read ("Invalid date", Estonian, Latvian).
_DATE_REFUSAL = re.compile(r"date|kuup[äa]ev|datums", re.IGNORECASE)
DATE_FORMAT_SETTING = "GATEWAY_DIRECTO__DATE_FORMAT"
DATE_FORMAT_HINT = (
    "Directo could not read the date in the test's filter (31 December 2078): it reads "
    "dates in another format than the gateway sends. Change the gateway setting "
    f"{DATE_FORMAT_SETTING} (dmy = dd.mm.yyyy, iso = yyyy-mm-dd) and test the connection "
    "again; until then incremental reads would fail or be misread."
)


class Capability(StrEnum):
    CUSTOMERS_OUT = "customers_out"
    ARTICLES_OUT = "articles_out"
    INVOICES_IN = "invoices_in"
    INVOICES_OUT = "invoices_out"
    RECEIPTS_OUT = "receipts_out"
    PURCHASES_OUT = "purchases_out"
    TRANSACTIONS_OUT = "transactions_out"

    @property
    def label(self) -> str:
        """``receipts out``: as Directo's component list names it, for hints."""
        return self.value.replace("_", " ")


OUTPUT_FEEDS: dict[Capability, feeds.Feed[Any]] = {
    Capability.CUSTOMERS_OUT: feeds.CUSTOMERS,
    Capability.ARTICLES_OUT: feeds.ITEMS,
    Capability.INVOICES_OUT: feeds.INVOICES,
    Capability.RECEIPTS_OUT: feeds.RECEIPTS,
    Capability.PURCHASES_OUT: feeds.PURCHASES,
    Capability.TRANSACTIONS_OUT: feeds.TRANSACTIONS,
}
# The output capability that reads a feed, by Directo's `what`.
READS: dict[str, Capability] = {feed.what: cap for cap, feed in OUTPUT_FEEDS.items()}


class DirectoFeedNotActivated(DirectoError):
    """The token works (customers out answers) but Directo refuses it the named feeds: the
    key is not licensed for them. Not retryable: only Directo can activate them."""

    code = "feed_not_activated"
    default_hint = "Ask Directo to activate the feed for this key, then test the connection again."

    def __init__(
        self, message: str, *, capabilities: Sequence[Capability], hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.capabilities = tuple(capabilities)


@dataclass(frozen=True, slots=True)
class CapabilityResult:
    """One capability's verdict; ``code``/``hint`` are set when ``ok`` is false."""

    capability: Capability
    ok: bool
    latency_ms: float
    code: str | None = None
    hint: str | None = None


def _failed(capability: Capability, started: float, error: DirectoError) -> CapabilityResult:
    if _refuses_date(error):
        return CapabilityResult(
            capability, False, _ms(started), "date_format_mismatch", DATE_FORMAT_HINT
        )
    return CapabilityResult(capability, False, _ms(started), error.code, error.hint)


def _refuses_date(error: DirectoError) -> bool:
    """An answer (not a transport or decode failure) saying a date could not be read."""
    answered = isinstance(error, DirectoResponseError) and not isinstance(error, DirectoDecodeError)
    return answered and _DATE_REFUSAL.search(error.message) is not None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def probe_filters(feed: feeds.Feed[Any]) -> dict[str, feeds.FilterValue]:
    """Filters under which ``feed`` returns nothing (see the module docstring)."""
    filters: dict[str, feeds.FilterValue] = {"ts": PROBE_DAY}
    if "code" in feed.filters:
        filters["code"] = _NO_SUCH_CODE
    if "date1" in feed.filters:
        filters["date1"] = filters["date2"] = PROBE_DAY
    return filters


async def probe_feed(
    client: DirectoClient, creds: DirectoCredentials, feed: feeds.Feed[Any], capability: Capability
) -> CapabilityResult:
    """Read ``feed`` with a filter that matches nothing; ok when Directo answers a feed."""
    started = time.perf_counter()
    try:
        stream = client.iter_feed(creds, feed, filters=probe_filters(feed), max_attempts=1)
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
    client: DirectoClient,
    creds: DirectoCredentials,
    capabilities: Iterable[Capability] = tuple(Capability),
) -> list[CapabilityResult]:
    """Probe ``capabilities`` (default: all), a few at a time, in the order given.

    A refusal on one capability while another works is reported as
    ``feed_not_activated`` (the token is fine; that component is not licensed for it).
    """
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def probe(capability: Capability) -> CapabilityResult:
        async with limit:
            if capability is Capability.INVOICES_IN:
                return await probe_invoice_put(client, creds)
            return await probe_feed(client, creds, OUTPUT_FEEDS[capability], capability)

    verdicts = await asyncio.gather(*(probe(c) for c in dict.fromkeys(capabilities)))
    if not any(verdict.ok for verdict in verdicts):
        return list(verdicts)
    return [_not_activated(verdict) for verdict in verdicts]


def _not_activated(verdict: CapabilityResult) -> CapabilityResult:
    if verdict.ok or verdict.code != DirectoAuthError.code:
        return verdict
    return CapabilityResult(
        verdict.capability,
        False,
        verdict.latency_ms,
        "feed_not_activated",
        f"The key works but may not use '{verdict.capability.label}': ask Directo to "
        "activate it for this key.",
    )
