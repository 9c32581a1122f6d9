"""Every request's id and its access-log line.

`RequestContext` is the outermost middleware. It takes the caller's `X-Request-ID` when it
is a plausible id (1–128 characters of `A–Z a–z 0–9 . _ : -`) and otherwise makes one
(uuid4 hex) — a rejected value is neither echoed nor logged. For the length of the request
the id is bound (`app.correlation`): every log line carries it as `request_id`, the jobs and
events the request writes store it, and the answer — success or error, 401 and 413
included — echoes it in `X-Request-ID` (problem bodies also name it).

When the request ends it writes one structured access line, `http_request`, with the
method, the route template (never the raw path: ids stay out of it), the status and
`duration_ms`. Probes and scrapes (`/healthz`, `/readyz`, `/metrics`) log at debug.
"""

from __future__ import annotations

import time

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import correlation
from app.metrics import route_template

log = structlog.get_logger("app.access")

_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_HEADER = correlation.REQUEST_ID_HEADER.lower().encode()


def _with_request_id(message: Message, request_id: str) -> None:
    """Put `X-Request-ID: request_id` on a response start, replacing any given one."""
    headers = [(key, value) for key, value in message.get("headers", []) if key.lower() != _HEADER]
    headers.append((_HEADER, request_id.encode()))
    message["headers"] = headers


class RequestContext:
    """ASGI middleware: binds the request id, echoes it, and logs the access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = correlation.request_id_from(
            Headers(scope=scope).get(correlation.REQUEST_ID_HEADER)
        )
        reset = correlation.bind(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                _with_request_id(message, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The id stays bound: the answer to an unexpected error is made after this, by
            # the app's handler in Starlette's outermost middleware, and names the request
            # (body, header, log line). A server runs each request in its own task, so
            # nothing outlives it.
            _access_line(scope, 500, started)
            raise
        _access_line(scope, status, started)
        reset()


def _access_line(scope: Scope, status: int, started: float) -> None:
    route = route_template(scope)
    write = log.debug if route in _QUIET_ROUTES else log.info
    write(
        "http_request",
        method=scope["method"],
        route=route,
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
