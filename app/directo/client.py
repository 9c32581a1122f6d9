"""The XML Direct client: form-encoded POSTs, classified errors, retries, streamed feeds.

The caller owns the ``httpx.AsyncClient`` (one per process, see ``resources.py``); this
class only borrows it. Every request goes to ``{base_url}/xmlcore/cap_xml_direct/xmlcore.asp``
or, for credentials with a database code, the legacy ``{base_url}/xmlcore/<code>/xmlcore.asp``
(the token is then sent as ``key`` too).

Where parameters go: the routing (``get``/``put``, ``what``) and the filters travel in the
query string **and** the form body. Directo's wiki sends them in the body; a live client
reports that ``cap_xml_direct`` answers ``<result type="404" desc="Invalid url given"/>``
unless they are in the query string (PROTOCOL §1.2, §7): sending both satisfies either
reading. The token (``token``/``key``) and ``xmldata`` go in the body only — a token in a
URL ends up in proxy and server logs. Filter dates follow ``settings.date_format``.

Retries: transport errors, timeouts, HTTP 5xx/429 and truncated bodies are retried up to
``max_attempts`` with exponential back-off and full jitter (``uniform(0, min(max, base·2ⁿ))``).
A feed is retried only while none of its batches has been yielded. A put is retried only
when the request cannot have reached Directo (connect errors); anything later raises
`DirectoOutcomeUnknown` — and so does any answer to a put that says neither what happened
to the document nor that the request was refused whole (see `errors`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TypeVar

import httpx
from pydantic import BaseModel

from app.config import DirectoSettings
from app.directo import codec, feeds, results, schemas
from app.directo.credentials import DirectoCredentials
from app.directo.errors import (
    DirectoAuthError,
    DirectoDateFormatMismatch,
    DirectoError,
    DirectoInvalidUrl,
    DirectoOutcomeUnknown,
    DirectoUpstreamError,
)
from app.directo.render import render_invoices
from app.directo.transport import (
    SAFE_PUT_ERRORS,
    CallRecord,
    status_error,
    transport_error,
)

R = TypeVar("R", bound="BaseModel")
Moment = datetime | date | None
log = logging.getLogger(__name__)

XML_DIRECT_PATH = "/xmlcore/cap_xml_direct/xmlcore.asp"


class DirectoClient:
    """Reads feeds from and puts invoices into one Directo installation (``base_url``)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: DirectoSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        observer: Callable[[CallRecord], None] | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._sleep = sleep
        self._rng = rng
        self._observer = observer
        self._base = settings.base_url.rstrip("/")

    def endpoint(self, creds: DirectoCredentials) -> str:
        """The URL these credentials talk to."""
        if creds.database_code:
            return f"{self._base}/xmlcore/{creds.database_code}/xmlcore.asp"
        return self._base + XML_DIRECT_PATH

    def _form(
        self, creds: DirectoCredentials, routing: Mapping[str, str], **secret: str
    ) -> dict[str, str]:
        """The form body: the token, the routing again, and ``secret`` (``xmldata``)."""
        form = {"token": creds.token}
        if creds.database_code:
            form["key"] = creds.token  # legacy XMLCore reads the appkey from `key`
        form.update(routing)
        form.update(secret)
        return form

    def _date_error(self, error: DirectoDateFormatMismatch) -> DirectoDateFormatMismatch:
        """The mismatch with a hint naming the setting's other value."""
        other = "iso" if self._settings.date_format == "dmy" else "dmy"
        return DirectoDateFormatMismatch(
            f"{error.message} (filters were sent as {self._settings.date_format})",
            suggested=other,
        )

    def _timeout(self, read: float) -> httpx.Timeout:
        s = self._settings
        return httpx.Timeout(s.connect_timeout, connect=s.connect_timeout, read=read)

    def retry_delay(self, attempt: int) -> float:
        """Full-jitter back-off before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        s = self._settings
        ceiling = min(s.retry_max_delay, s.retry_base_delay * 2 ** (attempt - 1))
        return float(self._rng() * ceiling)

    def _observe(
        self,
        op: str,
        what: str,
        attempt: int,
        started: float,
        status: int | None,
        error: DirectoError | None,
    ) -> None:
        if self._observer is not None:
            elapsed = time.perf_counter() - started
            code = error.code if error else None
            self._observer(CallRecord(op, what, attempt, elapsed, status, code))

    async def iter_feed(
        self,
        creds: DirectoCredentials,
        feed: feeds.Feed[R],
        *,
        filters: Mapping[str, feeds.FilterValue] | None = None,
        batch_size: int = 1000,
        max_attempts: int | None = None,
    ) -> AsyncGenerator[list[R], None]:
        """Stream one feed as batches of typed records while its bytes arrive.

        Raises a `DirectoError`; if it does so after some batches, those batches were part
        of an unfinished feed and must be discarded. Close it early with
        ``contextlib.aclosing`` so the HTTP stream is released promptly.
        """
        filters_sent = feeds.format_filters(
            feed, filters or {}, date_format=self._settings.date_format
        )
        routing = {"get": "1", "what": feed.what, **filters_sent}
        form = self._form(creds, routing)
        attempts = max_attempts or self._settings.max_attempts
        for attempt in range(1, attempts + 1):
            started, status, yielded = time.perf_counter(), None, False
            try:
                timeout = self._timeout(self._settings.feed_read_timeout)
                request = self._http.stream(
                    "POST", self.endpoint(creds), params=routing, data=form, timeout=timeout
                )
                async with request as response:
                    status = response.status_code
                    failure = status_error(status)
                    if failure is not None:
                        raise failure
                    batches = codec.decode_stream(
                        feed, response.aiter_bytes(), batch_size=batch_size
                    )
                    async for batch in batches:
                        yielded = True
                        yield batch
                self._observe("get", feed.what, attempt, started, status, None)
                return
            except httpx.HTTPError as exc:
                error = transport_error(exc)
            except DirectoDateFormatMismatch as exc:
                error = self._date_error(exc)
            except DirectoError as exc:
                error = exc
            self._observe("get", feed.what, attempt, started, status, error)
            if yielded or not error.retryable or attempt >= attempts:
                raise error
            await self._back_off(attempt, f"get {feed.what}", error)

    async def _back_off(self, attempt: int, what: str, error: DirectoError) -> None:
        delay = self.retry_delay(attempt)
        log.warning("directo %s failed (%s), retrying in %.2fs", what, error.code, delay)
        await self._sleep(delay)

    def iter_customers(
        self,
        creds: DirectoCredentials,
        *,
        ts: Moment = None,
        code: str | None = None,
        closed: bool | None = None,
        batch_size: int = 1000,
    ) -> AsyncGenerator[list[schemas.DirectoCustomer], None]:
        """Customers changed at or after ``ts`` (all when ``None``); see `iter_feed`."""
        filters = {"ts": ts, "code": code, "closed": closed}
        return self.iter_feed(creds, feeds.CUSTOMERS, filters=filters, batch_size=batch_size)

    def iter_items(
        self,
        creds: DirectoCredentials,
        *,
        ts: Moment = None,
        code: str | None = None,
        closed: bool | None = None,
        batch_size: int = 1000,
    ) -> AsyncGenerator[list[schemas.DirectoItem], None]:
        """Items (articles) changed at or after ``ts``; see `iter_feed`."""
        filters = {"ts": ts, "code": code, "closed": closed}
        return self.iter_feed(creds, feeds.ITEMS, filters=filters, batch_size=batch_size)

    def iter_invoices(
        self,
        creds: DirectoCredentials,
        *,
        ts: Moment = None,
        date1: date | None = None,
        date2: date | None = None,
        number: int | str | None = None,
        customercode: str | None = None,
        batch_size: int = 1000,
    ) -> AsyncGenerator[list[schemas.DirectoInvoice], None]:
        """Sales invoices with rows and ``balance``; ``date1``/``date2`` bound the invoice date."""
        filters = {"ts": ts, "date1": date1, "date2": date2, "number": number,
                   "customercode": customercode}  # fmt: skip
        return self.iter_feed(creds, feeds.INVOICES, filters=filters, batch_size=batch_size)

    def iter_receipts(
        self,
        creds: DirectoCredentials,
        *,
        ts: Moment = None,
        date1: date | None = None,
        date2: date | None = None,
        number: int | str | None = None,
        customercode: str | None = None,
        batch_size: int = 1000,
    ) -> AsyncGenerator[list[schemas.DirectoReceipt], None]:
        """Receipts (payments) with their rows; see `iter_feed`."""
        filters = {"ts": ts, "date1": date1, "date2": date2, "number": number,
                   "customercode": customercode}  # fmt: skip
        return self.iter_feed(creds, feeds.RECEIPTS, filters=filters, batch_size=batch_size)

    def iter_purchases(
        self,
        creds: DirectoCredentials,
        *,
        ts: Moment = None,
        date1: date | None = None,
        date2: date | None = None,
        number: int | str | None = None,
        batch_size: int = 1000,
    ) -> AsyncGenerator[list[schemas.DirectoPurchase], None]:
        """Purchase invoices; see `iter_feed`."""
        filters = {"ts": ts, "date1": date1, "date2": date2, "number": number}
        return self.iter_feed(creds, feeds.PURCHASES, filters=filters, batch_size=batch_size)

    def iter_transactions(
        self,
        creds: DirectoCredentials,
        *,
        ts: Moment = None,
        date1: date | None = None,
        date2: date | None = None,
        number: int | str | None = None,
        batch_size: int = 1000,
    ) -> AsyncGenerator[list[schemas.DirectoTransaction], None]:
        """Financial (ledger) transactions with rows; see `iter_feed`."""
        filters = {"ts": ts, "date1": date1, "date2": date2, "number": number}
        return self.iter_feed(creds, feeds.TRANSACTIONS, filters=filters, batch_size=batch_size)

    async def put_invoices(
        self,
        creds: DirectoCredentials,
        invoices: Sequence[schemas.DirectoInvoiceInput],
        *,
        max_attempts: int | None = None,
    ) -> list[schemas.PutResult]:
        """Put invoices in one request; one `PutResult` per invoice, in order.

        Failing results are returned, not raised (see `results.rejection`). An empty
        sequence sends an empty document set (Directo answers Type 99): that is how the
        capability probe asks whether the token may put invoices. See `put` for errors.
        """
        xmldata = render_invoices(invoices)
        return await self.put(creds, "invoice", xmldata, max_attempts=max_attempts)

    async def put(
        self,
        creds: DirectoCredentials,
        what: str,
        xmldata: str,
        *,
        max_attempts: int | None = None,
    ) -> list[schemas.PutResult]:
        """Send one put document; retry only while the request cannot have reached Directo.

        Raises `DirectoOutcomeUnknown` whenever the request may have reached Directo but no
        usable answer came back (read timeout, dropped connection, 5xx, unreadable body, an
        error text that does not say what became of the document): look the document up
        by number before sending it again. Raises `DirectoUnauthorized` /
        `DirectoTokenMissing` / `DirectoInvalidUrl` when Directo refused the whole request,
        `DirectoTransportError` when it could not be reached at all.
        """
        routing = {"put": "1", "what": what}
        form = self._form(creds, routing, xmldata=xmldata)
        attempts = max_attempts or self._settings.max_attempts
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                response = await self._http.post(
                    self.endpoint(creds),
                    params=routing,
                    data=form,
                    timeout=self._timeout(self._settings.read_timeout),
                )
            except SAFE_PUT_ERRORS as exc:
                error = transport_error(exc)
                self._observe("put", what, attempt, started, None, error)
                if attempt >= attempts:
                    raise error from None
                await self._back_off(attempt, f"put {what}", error)
                continue
            except httpx.HTTPError as exc:
                unknown = DirectoOutcomeUnknown(
                    f"the {what} put was sent but no answer came back ({type(exc).__name__}): "
                    "outcome unknown"
                )
                self._observe("put", what, attempt, started, None, unknown)
                raise unknown from None
            try:
                answer = self._put_answer(what, response)
            except DirectoError as exc:
                self._observe("put", what, attempt, started, response.status_code, exc)
                raise
            self._observe("put", what, attempt, started, response.status_code, None)
            return answer
        raise AssertionError("unreachable: the loop returns or raises")

    @staticmethod
    def _put_answer(what: str, response: httpx.Response) -> list[schemas.PutResult]:
        status = response.status_code
        failure = status_error(status)
        if isinstance(failure, DirectoUpstreamError):
            raise DirectoOutcomeUnknown(f"the {what} put got HTTP {status}: outcome unknown")
        if failure is not None:
            raise failure
        try:
            return results.parse_put_response(response.content)
        except (DirectoAuthError, DirectoInvalidUrl):
            raise  # refused whole, before any document was looked at: nothing stored
        except DirectoError as exc:
            # Unreadable, or an error text that does not say what became of the document:
            # it may have been stored. The export looks the number up before sending again.
            raise DirectoOutcomeUnknown(
                f"the answer to the {what} put says nothing the gateway can rely on "
                f"({exc.message}): outcome unknown",
                directo_text=exc.directo_text,
            ) from None
