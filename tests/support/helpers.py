"""Helpers shared by tests: running a real arq worker in burst mode; what the app logged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.config import Settings
from app.worker.settings import build_worker


async def run_worker_burst(settings: Settings) -> None:
    """Run a real worker on the session's queue until no job is left, then stop it.

    Besides the queued jobs it runs the crons a worker runs at start-up (the watchdog, the
    webhook delivery tick) and no scheduled tick: a clock time passing during the burst
    would otherwise start a payment poll or a refresh at a moment no test chose. Tests call
    those ticks themselves."""
    worker = build_worker(settings, burst=True, handle_signals=False)
    worker.cron_jobs = [job for job in worker.cron_jobs if job.run_at_startup]
    try:
        await worker.main()
    finally:
        await worker.close()


def logged_events(caplog: pytest.LogCaptureFixture, *, at_least: int) -> list[tuple[str, str]]:
    """(level, event) of what the app logged through structlog at `at_least` or above, the
    access line of each request (`http_request`) aside. Only while no app starts inside the
    test: its lifespan reconfigures the root log handlers."""
    return [
        (record.levelname, record.msg["event"])
        for record in caplog.records
        if isinstance(record.msg, dict)
        and record.levelno >= at_least
        and record.msg["event"] != "http_request"
    ]


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """A problem body without its `request_id`, once that is checked to be the request id
    the answer's `X-Request-ID` header names (every problem carries one)."""
    body: dict[str, Any] = response.json()
    assert body.pop("request_id") == response.headers["x-request-id"]
    return body
