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
import copy
import inspect
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TypeVar

import httpx

from app.config import DirectoSettings
from app.directo import codec, feeds, results, schemas, summaries
from app.directo.budget import DirectoBudget, Lease, Priority, budget_key
from app.directo.credentials import DirectoCredentials
from app.directo.errors import (
    DirectoAuthError,
    DirectoDateFormatMismatch,
    DirectoError,
    DirectoInvalidUrl,
    DirectoOutcomeUnknown,
    DirectoUpstreamError,
)
from app.directo.gate import CallGate
from app.directo.pools import POOL_KEY
from app.directo.render import render_invoices
from app.directo.transport import (
    SAFE_PUT_ERRORS,
    CallRecord,
    status_error,
    transport_error,
)

# A feed's records: models, or the lean summaries the statistics read (`summaries`).
R = TypeVar("R")
T = TypeVar("T")
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
        budget: DirectoBudget | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._sleep = sleep
        self._rng = rng
        self._observer = observer
        self._base = settings.base_url.rstrip("/")
        self._budget = budget
        self._priority = Priority.BULK
        # Shared by the `with_priority` copies: the process's calls on the wire (see `gate`).
        self._gate = CallGate(settings.max_connections_per_process)

    def with_priority(self, priority: Priority) -> DirectoClient:
        """This client, its feed reads waiting for the budget at ``priority`` (puts are
        always `Priority.INTERACTIVE`); the default is `Priority.BULK`."""
        clone = copy.copy(self)
        clone._priority = priority
        return clone

    async def _lease(self, creds: DirectoCredentials, priority: Priority) -> Lease | None:
        """A slot of the connection's budget for one HTTP attempt (waits for it)."""
        if self._budget is None:
            return None
        return await self._budget.acquire(self._key(creds), priority=priority)

    def _key(self, creds: DirectoCredentials) -> str:
        """The connection's name in the budget and its HTTP pool (`pools.POOL_KEY`)."""
        return budget_key(self.endpoint(creds), creds.token)

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
        *,
        creds: DirectoCredentials,
        filters: Mapping[str, str] | None = None,
        size: int | None = None,
        records: int | None = None,
        results: Sequence[schemas.PutResult] = (),
    ) -> None:
        """Hand the attempt's `CallRecord` to the observer: Directo's first result of a put,
        else the error's words (Directo's own text when it sent one)."""
        if self._observer is None:
            return
        elapsed = time.perf_counter() - started
        result_type = str(results[0].type) if results else None
        result_text = (results[0].desc or None) if results else None
        if error is not None:
            result_text = error.directo_text or error.message
        self._observer(
            CallRecord(
                op,
                what,
                attempt,
                elapsed,
                status,
                error.code if error else None,
                filters=filters or {},
                bytes_received=size,
                records=records,
                result_type=result_type,
                result_text=result_text,
                connection_id=creds.connection_id,
            )
        )

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
            lease = await self._lease(creds, self._priority)  # held while the body streams
            try:
                await self._gate.acquire(self._priority)
            except BaseException:
                if lease is not None:
                    await lease.release()
                raise
            started, status, yielded = time.perf_counter(), None, False
            response: httpx.Response | None = None
            records = 0
            try:
                timeout = self._timeout(self._settings.feed_read_timeout)
                request = self._http.stream(
                    "POST",
                    self.endpoint(creds),
                    params=routing,
                    data=form,
                    timeout=timeout,
                    extensions={POOL_KEY: self._key(creds)},
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
                        records += len(batch)
                        yield batch
                size = response.num_bytes_downloaded
                self._observe(
                    "get", feed.what, attempt, started, status, None,
                    creds=creds, filters=filters_sent, size=size, records=records,
                )  # fmt: skip
                return
            except httpx.HTTPError as exc:
                error = transport_error(exc)
            except DirectoDateFormatMismatch as exc:
                error = self._date_error(exc)
            except DirectoError as exc:
                error = exc
            finally:
                self._gate.release()
                if lease is not None:
                    await lease.release()
            read = response.num_bytes_downloaded if response is not None else None
            self._observe(
                "get", feed.what, attempt, started, status, error,
                creds=creds, filters=filters_sent, size=read, records=records,
            )  # fmt: skip
            if yielded or not error.retryable or attempt >= attempts:
                raise error
            await self._back_off(attempt, f"get {feed.what}", error)

    async def _gated(self, priority: Priority, call: Awaitable[T]) -> T:
        """``await call`` holding a connection of the process's gate."""
        try:
            await self._gate.acquire(priority)
        except BaseException:
            _discard(call)
            raise
        try:
            return await call
        finally:
            self._gate.release()

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

    def iter_summaries(
        self,
        creds: DirectoCredentials,
        what: str,
        *,
        date1: date,
        date2: date,
        customercode: str | None = None,
        batch_size: int = 1000,
    ) -> AsyncGenerator[list[summaries.Summary], None]:
        """The statistics' read of one document feed (``what``: invoice, receipt, purchase,
        transaction) as lean `summaries` — the values a tally reads, checked as the models
        check them, at about twice the models' speed; ``customercode`` for invoices and
        receipts only. See `iter_feed`."""
        filters = {"date1": date1, "date2": date2, "customercode": customercode}
        feed = summaries.BY_WHAT[what]
        return self.iter_feed(creds, feed, filters=filters, batch_size=batch_size)

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
            lease = await self._lease(creds, Priority.INTERACTIVE)
            started = time.perf_counter()
            try:
                post = self._gated(
                    Priority.INTERACTIVE,
                    self._http.post(
                        self.endpoint(creds),
                        params=routing,
                        data=form,
                        timeout=self._timeout(self._settings.read_timeout),
                        extensions={POOL_KEY: self._key(creds)},
                    ),
                )
                response = await _releasing(lease, post)
            except SAFE_PUT_ERRORS as exc:
                error = transport_error(exc)
                self._observe("put", what, attempt, started, None, error, creds=creds)
                if attempt >= attempts:
                    raise error from None
                await self._back_off(attempt, f"put {what}", error)
                continue
            except httpx.HTTPError as exc:
                unknown = DirectoOutcomeUnknown(
                    f"the {what} put was sent but no answer came back ({type(exc).__name__}): "
                    "outcome unknown"
                )
                self._observe("put", what, attempt, started, None, unknown, creds=creds)
                raise unknown from None
            size = len(response.content)
            try:
                answer = self._put_answer(what, response)
            except DirectoError as exc:
                self._observe(
                    "put", what, attempt, started, response.status_code, exc,
                    creds=creds, size=size,
                )  # fmt: skip
                raise
            self._observe(
                "put", what, attempt, started, response.status_code, None,
                creds=creds, size=size, records=len(answer), results=answer,
            )  # fmt: skip
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


def _discard(call: Awaitable[object]) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning)."""
    if inspect.iscoroutine(call):
        call.close()


async def _releasing(lease: Lease | None, call: Awaitable[T]) -> T:
    """``await call``, then give the budget's slot back (before any back-off)."""
    try:
        return await call
    finally:
        if lease is not None:
            await lease.release()
