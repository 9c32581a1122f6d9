"""Prometheus metrics and a light ASGI middleware counting requests by route template.

Labels stay low-cardinality: job kinds, feeds, operations, outcomes — never a company,
connection or job id (a thousand connections must not make a thousand series). The
families that describe the whole deployment rather than one process (queue depth, outbox
lag, freshness) are gauges a worker sets from the database when it is scraped
(`app/worker/fleet_gauges.py`).

Under `serve --workers N` the API's processes count into `PROMETHEUS_MULTIPROC_DIR`
(`exposition()` then merges them); a gauge says how its processes' values combine.
"""

from __future__ import annotations

import os
import time

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.directo.transport import CallRecord

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_seconds", "HTTP request latency", ["method", "route"]
)
JOBS_FINISHED = Counter("gateway_jobs_finished_total", "Jobs finished", ["job", "status"])
JOB_RUNS = Counter(
    "gateway_job_runs_total",
    "Job runs by kind and outcome: a final status, retrying, interrupted, superseded, crashed",
    ["job", "outcome"],
)
JOB_RUN_SECONDS = Histogram(
    "gateway_job_run_seconds",
    "Duration of one job run, by kind and outcome",
    ["job", "outcome"],
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
CRON_TICKS = Counter(
    "gateway_cron_ticks_total",
    "Worker cron ticks run, per deployment queue",
    ["cron", "queue", "outcome"],
)
DIRECTO_CALLS = Counter(
    "gateway_directo_calls_total",
    "HTTP attempts to Directo by feed (`what`), operation and outcome (ok or the error code)",
    ["what", "operation", "outcome"],
)
DIRECTO_LATENCY = Histogram(
    "gateway_directo_call_seconds",
    "Directo HTTP attempt latency by feed and operation (a feed: until its body was read)",
    ["what", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
WEBHOOK_DELIVERIES = Counter(
    "gateway_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"]
)
DIRECTO_BUDGET_WAIT = Histogram(
    "gateway_directo_budget_wait_seconds",
    "Time a Directo call waited for a slot of its connection's fleet-wide budget, by "
    "priority (interactive, bulk)",
    ["priority"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
DIRECTO_BUDGET_LEASES = Gauge(
    "gateway_directo_budget_leases",
    "Directo budget slots this process holds now (calls in flight)",
    multiprocess_mode="livesum",
)

# Set by a worker from the database at scrape time; every worker reports the same values.
JOBS_QUEUED = Gauge(
    "gateway_jobs_queued",
    "Jobs waiting to run (status queued), by kind",
    ["job"],
    multiprocess_mode="mostrecent",
)
JOBS_RUNNING = Gauge(
    "gateway_jobs_running", "Jobs running now, by kind", ["job"], multiprocess_mode="mostrecent"
)
OLDEST_QUEUED_SECONDS = Gauge(
    "gateway_jobs_oldest_queued_age_seconds",
    "Age of the oldest queued job, by kind (0 when none waits)",
    ["job"],
    multiprocess_mode="mostrecent",
)
OUTBOX_PENDING = Gauge(
    "gateway_webhook_deliveries_pending",
    "Webhook deliveries not yet delivered",
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG_SECONDS = Gauge(
    "gateway_webhook_outbox_lag_seconds",
    "Age of the oldest undelivered webhook delivery (0 when none is pending)",
    multiprocess_mode="mostrecent",
)
FRESHNESS_LAG_BUCKETS = (3600.0, 6 * 3600.0, 24 * 3600.0, 3 * 86400.0, 7 * 86400.0)
FRESHNESS_MAX_SECONDS = Gauge(
    "gateway_feed_freshness_lag_max_seconds",
    "Per feed, the largest now - last successful run over current connections",
    ["feed"],
    multiprocess_mode="mostrecent",
)
FRESHNESS_CONNECTIONS = Gauge(
    "gateway_feed_freshness_connections",
    "Per feed, current connections whose last successful run is at most `le` seconds old "
    "(cumulative; le=+Inf counts every connection that ran the feed)",
    ["feed", "le"],
    multiprocess_mode="mostrecent",
)
FLEET_SCRAPE_ERRORS = Counter(
    "gateway_fleet_gauges_errors_total",
    "Scrapes whose database-derived gauges could not be refreshed (they kept old values)",
)

log = structlog.get_logger(__name__)


def exposition() -> tuple[bytes, str]:
    """This process's metrics in the text format, and its content type. With
    `PROMETHEUS_MULTIPROC_DIR` set, every process writing to that directory is merged."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def observe_job_run(job: str, outcome: str, seconds: float) -> None:
    JOB_RUNS.labels(job, outcome).inc()
    JOB_RUN_SECONDS.labels(job, outcome).observe(seconds)


def observe_directo_call(record: CallRecord) -> None:
    """The Directo client's observer: one sample and one log line per HTTP attempt (never
    the token). The line carries the ids bound by the run or request that made the call."""
    DIRECTO_CALLS.labels(record.what, record.op, record.error_code or "ok").inc()
    DIRECTO_LATENCY.labels(record.what, record.op).observe(record.seconds)
    log.info(
        "directo_call",
        what=record.what,
        operation=record.op,
        attempt=record.attempt,
        status_code=record.status_code,
        error_code=record.error_code,
        duration_ms=round(record.seconds * 1000, 1),
    )


def route_template(scope: Scope) -> str:
    """The matched route's path template with its routers' prefixes (`/v1/jobs/{job_id}`),
    or `unmatched`. FastAPI leaves the included router's own route in `scope["route"]` (its
    path without the prefixes) and the effective route in its own scope namespace."""
    context = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None)
    return str(template or "unmatched")


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
            template = route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
