"""Auth, the problem body for every error, health, readiness and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.main import create_app
from app.resources import Resources
from tests.conftest import API_KEY, ROTATED_API_KEY, make_settings
from tests.support.helpers import problem_of, run_worker_burst

UNAUTHORIZED = {
    "type": "urn:directo-gateway:problem:unauthorized",
    "title": "Unauthorized",
    "status": 401,
    "detail": "A valid API key is required: send 'Authorization: Bearer <key>'.",
    "code": "unauthorized",
    "errors": [],
}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {API_KEY}x"},
    ],
    ids=["missing", "wrong", "not-bearer", "empty", "prefix-of-a-key"],
)
@pytest.mark.slow
async def test_v1_routes_refuse_requests_without_a_valid_key(
    client: AsyncClient, headers: dict[str, str]
) -> None:
    # The client sends a valid key by default; replace (or blank) it.
    headers = {"Authorization": headers.get("Authorization", "")}
    response = await client.get("/v1/jobs/00000000-0000-0000-0000-000000000000", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert problem_of(response) == UNAUTHORIZED


@pytest.mark.parametrize("key", [API_KEY, ROTATED_API_KEY])
async def test_every_configured_key_is_accepted_during_rotation(
    client: AsyncClient, key: str
) -> None:
    response = await client.get(
        "/v1/jobs/00000000-0000-0000-0000-000000000000", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 404  # authenticated: the job simply does not exist


async def test_unknown_route_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert problem_of(response) == {
        "type": "urn:directo-gateway:problem:not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
        "code": "not_found",
        "errors": [],
    }


async def test_wrong_method_is_a_405_problem(client: AsyncClient) -> None:
    response = await client.delete("/v1/diagnostics/ping")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert problem_of(response) == {
        "type": "urn:directo-gateway:problem:method_not_allowed",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "Method Not Allowed",
        "code": "method_not_allowed",
        "errors": [],
    }


async def test_invalid_path_parameter_is_a_422_problem_listing_the_field(
    client: AsyncClient,
) -> None:
    response = await client.get("/v1/jobs/not-a-uuid")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["status"] == 422
    assert body["title"] == "Unprocessable Content"
    assert [(item["loc"], item["code"]) for item in body["errors"]] == [
        (["path", "job_id"], "uuid_parsing")
    ]


async def test_health_needs_no_key(client: AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_postgres_and_redis_answer(client: AsyncClient) -> None:
    response = await client.get("/readyz", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "encryption_keys": "ok"},
    }


async def test_metrics_are_prometheus_text(client: AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        'gateway_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    )


@pytest.fixture
async def broken_client(
    request: pytest.FixtureRequest, db: Resources
) -> AsyncIterator[AsyncClient]:
    """An app whose Redis or PostgreSQL points at a closed port."""
    overrides: dict[str, object] = {}
    if request.param == "redis":
        overrides["redis"] = {"url": "redis://127.0.0.1:1/0", "queue_name": "unused"}
    else:
        overrides["database"] = {"url": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    app = create_app(make_settings(**overrides))
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app), base_url="http://gateway.test"
        ) as http,
    ):
        yield http


@pytest.mark.parametrize("broken_client", ["redis", "postgres"], indirect=True)
async def test_not_ready_names_the_dependency_that_is_down(
    broken_client: AsyncClient, request: pytest.FixtureRequest
) -> None:
    down = request.node.callspec.params["broken_client"]
    response = await broken_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert [item["code"] for item in body["errors"]] == [f"{down}_unavailable"]
    assert body["errors"][0]["loc"] == [down]
    assert f"{down} is unreachable" in body["detail"]


@pytest.mark.slow
async def test_directo_calls_and_finished_jobs_are_counted(
    client: AsyncClient, db: Resources, sandbox: object
) -> None:
    await client.put("/v1/companies/m1/directo", json={})
    await client.put("/v1/companies/m1/directo/connection", json={"token": "sandbox-token-ee"})
    await run_worker_burst(db.settings)  # in this process: same metrics registry
    text = (await client.get("/metrics")).text
    assert 'gateway_directo_calls_total{operation="get",outcome="ok",what="customer"}' in text
    assert 'gateway_directo_calls_total{operation="put",outcome="ok",what="invoice"}' in text
    assert 'gateway_jobs_finished_total{job="customers_import",status="succeeded"}' in text
