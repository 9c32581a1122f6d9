"""The Directo call log through the API and a real worker: a job's calls, request ids, and
the token never stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from app.config import CallLogSettings
from app.main import create_app
from app.resources import Resources
from tests.conftest import API_KEY
from tests.support.helpers import run_worker_burst
from tests.support.waiting import wait_until

COMPANY = "calls-firm"
TOKEN = "sandbox-token-ee"
REQUEST_ID = "trace-calls-1"


@pytest.fixture
async def api(db: Resources) -> AsyncIterator[AsyncClient]:
    """The API with a call log flushed every 0.1 s (so request-scoped calls land soon)."""
    settings = db.settings.model_copy(update={"call_log": CallLogSettings(flush_seconds=0.1)})
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as http,
    ):
        yield http


async def _stored_calls(db: Resources) -> list[dict[str, object]]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT row_to_json(c)::jsonb AS row FROM directo_calls c ORDER BY created_at")
        )
        return [dict(row.row) for row in rows]


async def _connect(api: AsyncClient) -> dict[str, object]:
    assert (await api.put(f"/v1/companies/{COMPANY}/directo", json={})).status_code == 201
    connected = await api.put(
        f"/v1/companies/{COMPANY}/directo/connection",
        json={"token": TOKEN},
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert connected.status_code == 201, connected.text
    return dict(connected.json())


@pytest.mark.slow
async def test_a_jobs_calls_are_listed_in_order_with_what_was_asked(
    api: AsyncClient, db: Resources, sandbox: object
) -> None:
    connected = await _connect(api)
    job_id = connected["import_job"]["id"]  # type: ignore[index]
    connection_id = connected["connection"]["id"]  # type: ignore[index]
    await run_worker_burst(db.settings)

    page = await api.get(f"/v1/jobs/{job_id}/calls")
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["next_cursor"] is None
    [call] = body["items"]
    assert call["created_at"]
    assert call["duration_ms"] >= 0
    assert call["bytes"] > 0
    assert uuid.UUID(call.pop("id"))
    del call["created_at"], call["duration_ms"], call["bytes"]
    job = (await api.get(f"/v1/jobs/{job_id}")).json()
    assert call == {
        "job_id": job_id,
        "request_id": REQUEST_ID,  # the request that started the import
        "connection_id": connection_id,
        "feed": "customer",
        "operation": "get",
        "filters": {},
        "http_status": 200,
        "result_type": None,
        "result_text": None,
        "records": job["counts"]["read"],
        "attempt": 1,
        "error_code": None,
    }


@pytest.mark.slow
async def test_request_calls_are_recorded_and_the_token_never_is(
    api: AsyncClient, db: Resources, sandbox: object
) -> None:
    await _connect(api)  # the connection test probes every feed under the request
    await run_worker_burst(db.settings)

    def probes(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        return [row for row in rows if row["job_id"] is None]

    async def request_calls() -> list[dict[str, object]]:
        return probes(await _stored_calls(db))

    rows = await wait_until(request_calls, what="the connection test's calls stored")
    assert {row["request_id"] for row in rows} == {REQUEST_ID}
    assert {(row["operation"], row["feed"]) for row in rows} >= {
        ("get", "customer"),
        ("put", "invoice"),
    }
    put = next(row for row in rows if row["operation"] == "put")
    assert put["result_type"] == "99"
    assert put["http_status"] == 200
    dated = [row for row in rows if row["filters"]]
    assert dated, "the probes filter by date"
    assert all(TOKEN not in str(row) for row in await _stored_calls(db))


@pytest.mark.slow
async def test_calls_are_paged_and_an_unknown_job_is_a_404(
    api: AsyncClient, db: Resources, sandbox: object
) -> None:
    connected = await _connect(api)
    await run_worker_burst(db.settings)
    articles = await api.post(f"/v1/companies/{COMPANY}/directo/imports", json={"feed": "articles"})
    assert articles.status_code == 202, articles.text
    await run_worker_burst(db.settings)
    async with db.engine.begin() as connection:  # two calls on one job, to page through
        await connection.execute(
            text("UPDATE directo_calls SET job_id = :job WHERE job_id IS NOT NULL"),
            {"job": connected["import_job"]["id"]},  # type: ignore[index]
        )
    job_id = connected["import_job"]["id"]  # type: ignore[index]
    first = (await api.get(f"/v1/jobs/{job_id}/calls?limit=1")).json()
    assert [item["feed"] for item in first["items"]] == ["customer"]
    second = (
        await api.get(f"/v1/jobs/{job_id}/calls?limit=1&cursor={first['next_cursor']}")
    ).json()
    assert [item["feed"] for item in second["items"]] == ["item"]
    assert second["next_cursor"] is None

    missing = await api.get(f"/v1/jobs/{uuid.uuid4()}/calls")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
