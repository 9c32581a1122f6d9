"""Helpers shared by tests: running a real arq worker in burst mode; what the app logged."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.worker.settings import build_worker


async def run_worker_burst(settings: Settings) -> None:
    """Run a real worker on the session's queue until no job is left, then stop it."""
    worker = build_worker(settings, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()


def logged_events(caplog: pytest.LogCaptureFixture, *, at_least: int) -> list[tuple[str, str]]:
    """(level, event) of what the app logged through structlog at `at_least` or above. Only
    while no app starts inside the test: its lifespan reconfigures the root log handlers."""
    return [
        (record.levelname, record.msg["event"])
        for record in caplog.records
        if isinstance(record.msg, dict) and record.levelno >= at_least
    ]
