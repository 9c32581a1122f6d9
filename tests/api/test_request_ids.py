"""`X-Request-ID`: accepted when it is a plausible id, generated otherwise, echoed on every
answer (errors included, in the problem body too), on every log line of the request — the
access line among them — and stored on the jobs the request creates."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from app.config import Settings
from tests.support.helpers import run_worker_burst

GENERATED = re.compile(r"[0-9a-f]{32}")
GIVEN = "uku-7f3a:req_42.retry-1"


async def test_an_id_is_generated_when_none_is_sent(client: AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_valid_id_is_echoed_on_success_and_on_every_error(client: AsyncClient) -> None:
    headers = {"X-Request-ID": GIVEN}
    ok = await client.get("/healthz", headers=headers)
    not_found = await client.get("/v1/nothing-here", headers=headers)
    unauthorized = await client.get("/v1/jobs/x", headers={**headers, "Authorization": ""})
    invalid = await client.get("/v1/jobs/not-a-uuid", headers=headers)

    async def endless() -> AsyncIterator[bytes]:
        yield b"{}"

    too_large = await client.post(
        "/v1/companies/firm-1/webhook-endpoints",
        content=endless(),
        headers={**headers, "Content-Length": str(10**9), "Content-Type": "application/json"},
    )
    answers = [ok, not_found, unauthorized, invalid, too_large]
    assert [answer.status_code for answer in answers] == [200, 404, 401, 422, 413]
    assert [answer.headers["x-request-id"] for answer in answers] == [GIVEN] * 5
    for problem in answers[1:]:
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json()["request_id"] == GIVEN


@pytest.mark.parametrize(
    "sent",
    ["", "a" * 129, "has space", "<script>", "naïve", "a/b", "semi;colon"],
    ids=["empty", "too-long", "space", "markup", "non-ascii", "slash", "semicolon"],
)
@pytest.mark.slow
async def test_an_invalid_id_is_replaced_and_never_echoed(client: AsyncClient, sent: str) -> None:
    response = await client.get("/v1/nothing-here", headers={"X-Request-ID": sent.encode()})
    assert response.status_code == 404
    replaced = response.headers["x-request-id"]
    assert GENERATED.fullmatch(replaced)
    assert response.json()["request_id"] == replaced
    if sent:
        assert sent not in response.text


async def test_the_longest_accepted_id_is_kept(client: AsyncClient) -> None:
    longest = "A-z0._:" * 18 + "12"  # 128 characters, every kind allowed
    response = await client.get("/healthz", headers={"X-Request-ID": longest})
    assert response.headers["x-request-id"] == longest


async def test_the_access_line_names_method_route_status_duration_and_request_id(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    job_id = "00000000-0000-0000-0000-000000000000"
    await client.get(f"/v1/jobs/{job_id}", headers={"X-Request-ID": GIVEN})
    await client.get("/healthz", headers={"X-Request-ID": "probe"})
    lines = [
        (record.levelname, dict(record.msg))
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == "http_request"
    ]
    assert len(lines) == 2
    for _, line in lines:
        assert line.pop("duration_ms") >= 0
        assert line.pop("timestamp")
    assert lines == [
        (
            "INFO",
            {
                "event": "http_request",
                "method": "GET",
                "route": "/v1/jobs/{job_id}",  # the template: never the raw path
                "status": 404,
                "request_id": GIVEN,
                "level": "info",
                "logger": "app.access",
            },
        ),
        (
            "DEBUG",  # probes and scrapes stay out of an INFO log
            {
                "event": "http_request",
                "method": "GET",
                "route": "/healthz",
                "status": 200,
                "request_id": "probe",
                "level": "debug",
                "logger": "app.access",
            },
        ),
    ]


async def test_every_log_line_of_a_request_carries_its_id(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A line the request's own code logs (here: a value PostgreSQL cannot store)."""
    response = await client.get(
        "/v1/companies/firm-1/directo/customers",
        params={"search": "K\x00"},
        headers={"X-Request-ID": GIVEN},
    )
    assert response.status_code == 422
    events = {
        record.msg["event"]: record.msg.get("request_id")
        for record in caplog.records
        if isinstance(record.msg, dict)
    }
    assert events == {"database_refused_value": GIVEN, "http_request": GIVEN}


@pytest.mark.slow
async def test_a_job_created_by_a_request_carries_its_id(
    client: AsyncClient, settings: Settings
) -> None:
    queued = await client.post("/v1/diagnostics/ping", headers={"X-Request-ID": GIVEN})
    assert queued.status_code == 202
    assert queued.json()["request_id"] == GIVEN
    await run_worker_burst(settings)
    finished = (await client.get(f"/v1/jobs/{queued.json()['id']}")).json()
    assert (finished["status"], finished["request_id"]) == ("succeeded", GIVEN)
