"""The sandbox ASGI app: an XML Direct look-alike plus ``/_sandbox`` admin routes.

``/xmlcore/cap_xml_direct/xmlcore.asp`` (the token picks the database) and the legacy
``/xmlcore/<database_code>/xmlcore.asp`` answer GET and POST; parameters come from the
query string and/or a form body, names case-insensitive (body wins) — or, in the strict
`ServerMode` (``routing="query"``), routing and filters from the query string only. Filter
dates are read as the mode's ``filter_dates`` says. Errors are answered the way Directo
does, with HTTP 200 (``<err>token required</err>``, ``<result type="5"
desc="Unauthorized"/>``, ``<result type="404" …/>``), except injected 5xx faults and an
unknown legacy database code (HTTP 404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.directo.sandbox import admin, xml
from app.directo.sandbox.cache import FeedCache
from app.directo.sandbox.faults import dropped, truncated
from app.directo.sandbox.filters import FilterError, Filters
from app.directo.sandbox.puts import apply_put
from app.directo.sandbox.state import LoggedRequest, SandboxState, token_fingerprint

XML_MEDIA_TYPE = "text/xml; charset=utf-8"
_SECRET_PARAMS = {"token", "key", "xmldata"}


async def read_params(request: Request, *, routing: str = "any") -> dict[str, str]:
    """Query string and form body merged, names lower-cased, the body's values winning.

    With ``routing="query"`` only the token and ``xmldata`` are taken from the body:
    everything else (``get``/``put``/``what``, filters) must be in the query string.
    """
    params = {key.lower(): value for key, value in request.query_params.items()}
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", errors="replace")
        pairs = ((key.lower(), value) for key, value in parse_qsl(body, keep_blank_values=True))
        if routing == "query":
            pairs = ((key, value) for key, value in pairs if key in _SECRET_PARAMS)
        params.update(pairs)
    return params


def _xml(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=XML_MEDIA_TYPE)


def _faulted(chunks: Iterator[bytes], fault: str | None) -> Iterator[bytes]:
    if fault == "truncate":
        return truncated(chunks)
    if fault == "drop":
        return dropped(chunks)
    return chunks


async def xmlcore(request: Request) -> Response:
    """Answer one XML Direct request (see the module docstring), counting it in flight
    per token (`SandboxState.calls`) until its answer's last byte is sent."""
    state: SandboxState = request.app.state.sandbox
    params = await read_params(request, routing=state.mode.routing)
    fingerprint = token_fingerprint(params.get("token") or params.get("key") or "")
    state.calls.started(fingerprint)
    try:
        response = await _answer(request, state, params)
    except BaseException:
        state.calls.ended(fingerprint)
        raise
    return _CountedUntilSent(response, lambda: state.calls.ended(fingerprint))


class _CountedUntilSent(Response):
    """`response`, and `done()` once it is sent — or abandoned: a client that hangs up
    mid-stream (a dropped connection, a killed worker, a timeout) ends its call too, where
    a background task would never run and the call would count as in flight for ever."""

    def __init__(self, response: Response, done: Callable[[], None]) -> None:
        self._response = response
        self._done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._response(scope, receive, send)
        finally:
            self._done()


async def _answer(request: Request, state: SandboxState, params: dict[str, str]) -> Response:
    mode = state.mode
    token = params.get("token") or params.get("key") or ""
    op = "put" if params.get("put") == "1" else "get" if params.get("get") == "1" else ""
    what = params.get("what", "").strip().lower()
    entry = LoggedRequest(
        at=state.now(), method=request.method, path=request.url.path, op=op, what=what,
        token=token_fingerprint(token), database=None,
        params={k: v for k, v in params.items() if k not in _SECRET_PARAMS},
        xmldata_bytes=len(params.get("xmldata", "").encode()),
    )  # fmt: skip
    state.record(entry)
    code = request.path_params["code"]
    if code != "cap_xml_direct" and state.by_code(code) is None:
        entry.outcome = "http 404"
        return PlainTextResponse("Not Found", status_code=404)
    if not token:
        entry.outcome = "token required"
        return _xml(xml.TOKEN_REQUIRED)
    resolved = state.resolve(token)
    if resolved is None or resolved[0].revoked:
        entry.outcome = "unauthorized"
        return _xml(xml.UNAUTHORIZED)
    spec, db = resolved
    entry.database = db.spec.name
    if code != "cap_xml_direct" and db.spec.database_code != code:
        entry.outcome = "unauthorized (other database)"
        return _xml(xml.UNAUTHORIZED)
    if not op or what not in xml.PLURALS:
        entry.outcome = "invalid url"
        return _xml(xml.result_document(404, "Invalid url given"))
    if f"{op}:{what}" not in spec.components:
        entry.outcome = "unauthorized (component not licensed)"
        return _xml(xml.UNAUTHORIZED)
    if db.faults.latency_ms:
        await asyncio.sleep(db.faults.latency_ms / 1000)
    fault = db.roll_fault()
    if fault == "error":
        entry.outcome = "fault: 503"
        return PlainTextResponse("Service Unavailable", status_code=503)
    if op == "put":
        results = await run_in_threadpool(apply_put, db, what, params.get("xmldata", ""))
        if db.take_put_drop():
            fault = "drop"
        entry.outcome = "put: " + ",".join(result["Type"] for result in results)
        body = xml.put_answer(results, db.faults.answer_shape)
    else:
        try:
            filters = Filters.from_params(params, dates=mode.filter_dates)
        except FilterError as exc:
            entry.outcome = "bad filter"
            return _xml(xml.result_document(9, str(exc)))
        entry.outcome = "feed"
        cache: FeedCache = request.app.state.feed_cache
        key = (db, db.version, what, filters)  # the object itself: ids are reused after a reset
        cached = cache.get(key)
        if cached is not None:
            body_chunks: Iterator[bytes] = iter(cached)
        else:
            body_chunks = xml.feed_chunks(what, db.records(what, filters))
            if not fault:
                body_chunks = cache.recording(key, body_chunks)
        if fault:
            entry.outcome += f" (fault: {fault})"
        return StreamingResponse(_faulted(body_chunks, fault), media_type=XML_MEDIA_TYPE)
    if fault:
        entry.outcome += f" (fault: {fault})"
        return StreamingResponse(_faulted(iter([body]), fault), media_type=XML_MEDIA_TYPE)
    return _xml(body)


def create_sandbox_app(state: SandboxState | None = None) -> Starlette:
    """The sandbox as an ASGI app; ``state`` defaults to the seeded demo databases."""
    app = Starlette(
        routes=[
            Route("/xmlcore/{code}/xmlcore.asp", xmlcore, methods=["GET", "POST"]),
            *admin.routes(),
        ]
    )
    app.state.sandbox = state if state is not None else SandboxState()
    app.state.feed_cache = FeedCache()
    return app
