"""Prometheus metrics and a light ASGI middleware counting requests by route template."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.directo.transport import CallRecord

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_seconds", "HTTP request latency", ["method", "route"]
)
JOBS_FINISHED = Counter("gateway_jobs_finished_total", "Jobs finished", ["job", "status"])
CRON_TICKS = Counter(
    "gateway_cron_ticks_total",
    "Worker cron ticks run, per deployment queue",
    ["cron", "queue", "outcome"],
)
DIRECTO_CALLS = Counter(
    "gateway_directo_calls_total", "Calls to Directo", ["what", "operation", "outcome"]
)
DIRECTO_LATENCY = Histogram("gateway_directo_call_seconds", "Directo call latency", ["what"])
WEBHOOK_DELIVERIES = Counter(
    "gateway_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"]
)


def observe_directo_call(record: CallRecord) -> None:
    """The Directo client's observer: one sample per HTTP attempt (never the token)."""
    DIRECTO_CALLS.labels(record.what, record.op, record.error_code or "ok").inc()
    DIRECTO_LATENCY.labels(record.what).observe(record.seconds)


class RequestMetricsMiddleware:
    """Counts requests and their latency, labelled by route template (never by raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
