"""A real worker process whose JSON log lines the test reads, serving its own /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.resources import Resources
from tests.support.receiver import free_port
from tests.support.waiting import wait_until
from tests.support.workers import worker_env


@dataclass
class LoggedWorker:
    metrics_url: str
    lines: list[dict[str, Any]] = field(default_factory=list)  # its JSON log lines, in order

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == event]

    async def scrape(self) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(self.metrics_url)
        response.raise_for_status()
        return response.text


async def _collect(stream: asyncio.StreamReader, lines: list[dict[str, Any]]) -> None:
    async for raw in stream:
        with contextlib.suppress(ValueError):
            line = json.loads(raw)
            if isinstance(line, dict):
                lines.append(line)


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(url)).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.asynccontextmanager
async def logged_worker(db: Resources) -> AsyncIterator[LoggedWorker]:
    """`directo-gateway worker` logging JSON at INFO, with /metrics on a free loopback port;
    yields once /metrics answers, and stops the worker on exit."""
    port = free_port()
    env = {
        **worker_env(db),
        "GATEWAY_LOG__FORMAT": "json",
        "GATEWAY_LOG__LEVEL": "INFO",
        "GATEWAY_WORKER__METRICS_PORT": str(port),
        "GATEWAY_WORKER__METRICS_HOST": "127.0.0.1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", env=env, stdout=DEVNULL, stderr=PIPE
    )
    assert process.stderr is not None
    worker = LoggedWorker(metrics_url=f"http://127.0.0.1:{port}/metrics")
    reader = asyncio.create_task(_collect(process.stderr, worker.lines))
    try:
        await wait_until(lambda: _answers(worker.metrics_url), what="worker /metrics", within=60)
        yield worker
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        await reader
