"""`serve --workers N`: the API's counters are the sum over its processes (Prometheus
multiprocess mode in a temporary directory), whichever process answers the scrape."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import DEVNULL

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.resources import Resources
from tests.conftest import API_KEY
from tests.support.receiver import free_port
from tests.support.waiting import wait_until
from tests.support.workers import worker_env

REQUESTS = 24


def healthz_count(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_http_requests_total" and sample.labels["route"] == "/healthz"
    )


async def _get(url: str) -> httpx.Response | None:
    # A new connection each time, so the processes share the requests.
    try:
        async with httpx.AsyncClient(timeout=10, headers={"Connection": "close"}) as http:
            return await http.get(url)
    except httpx.TransportError:
        return None


@pytest.mark.slow
async def test_two_api_processes_report_one_sum(db: Resources) -> None:
    port = free_port()
    env = {**worker_env(db), "GATEWAY_API__KEYS": API_KEY}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "app.cli", "serve", "--port", str(port), "--workers", "2"),
        env=env,
        stdout=DEVNULL,
        stderr=DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until(lambda: _get(f"{base}/readyz"), what="serve --workers 2 up", within=60)
        for _ in range(REQUESTS):
            response = await _get(f"{base}/healthz")
            assert response is not None
            assert response.status_code == 200
        for _ in range(4):  # whichever process answers, it reports every process's count
            scrape = await _get(f"{base}/metrics")
            assert scrape is not None
            assert healthz_count(scrape.text) == REQUESTS
    finally:
        server.terminate()
        await server.wait()
