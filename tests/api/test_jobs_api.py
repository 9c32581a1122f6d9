"""A job runs end to end: API → Postgres → Redis → real arq worker → Postgres → API."""

from __future__ import annotations

import uuid

import pytest
from httpx import AsyncClient

from app.config import Settings
from tests.support.helpers import problem_of, run_worker_burst


@pytest.mark.slow
async def test_ping_job_runs_through_a_real_worker(client: AsyncClient, settings: Settings) -> None:
    queued = await client.post("/v1/diagnostics/ping")
    assert queued.status_code == 202
    body = queued.json()
    assert body["kind"] == "ping"
    assert body["status"] == "queued"
    assert body["progress"] == {"done": 0, "total": None, "phase": None}

    await run_worker_burst(settings)

    finished = (await client.get(f"/v1/jobs/{body['id']}")).json()
    assert finished["status"] == "succeeded"
    assert finished["counts"] == {"pongs": 1}
    assert finished["attempts"] == 1
    assert finished["errors"] == []
    assert set(finished["result"]) == {"worker_host", "database_time"}
    assert finished["started_at"] is not None
    assert finished["finished_at"] >= finished["started_at"]


@pytest.mark.slow
async def test_unknown_job_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get(f"/v1/jobs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert problem_of(response) == {
        "type": "urn:directo-gateway:problem:not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "job was not found",
        "code": "not_found",
        "errors": [],
    }
