"""Helpers shared by tests: running a real arq worker in burst mode."""

from __future__ import annotations

from app.config import Settings
from app.jobs.worker import build_worker


async def run_worker_burst(settings: Settings) -> None:
    """Run a real worker on the session's queue until no job is left, then stop it."""
    worker = build_worker(settings, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
