"""A real worker process serves its own /metrics — job runs, webhook deliveries, Directo
calls, and the deployment-wide gauges (queue, outbox, freshness) — and one request id
follows a connect request into the import job it starts, that job's Directo calls and the
webhook delivery it causes, in the worker's JSON log lines and on the webhook itself."""

from __future__ import annotations

import json

import pytest
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.support.logged_worker import LoggedWorker, logged_worker
from tests.support.receiver import Receiver, running_receiver
from tests.support.waiting import wait_until

COMPANY = "firm-observed"
BASE = f"/v1/companies/{COMPANY}"
REQUEST_ID = "uku-connect-7f3a"

Sample = tuple[str, frozenset[tuple[str, str]]]


def samples(text: str) -> dict[Sample, float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict[Sample, float], name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


def did_something(result: object) -> bool:
    return any(result.values()) if isinstance(result, dict) else bool(result)


def delivered_import(receiver: Receiver) -> dict[str, str] | None:
    """The headers of the delivered `customers.imported` webhook, once it arrived."""
    for request in receiver.requests:
        if json.loads(request.body)["type"] == "customers.imported":
            return request.headers
    return None


async def connect_and_run(
    client: AsyncClient, receiver: Receiver, worker: LoggedWorker
) -> tuple[str, dict[str, str]]:
    endpoint = await client.post(f"{BASE}/webhook-endpoints", json={"url": receiver.url("/h")})
    assert endpoint.status_code == 201, endpoint.text
    assert (await client.put(f"{BASE}/directo", json={})).status_code == 201
    connected = await client.put(
        f"{BASE}/directo/connection",
        json={"token": "sandbox-token-ee"},
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert connected.status_code == 201, connected.text
    job = connected.json()["import_job"]
    assert job["request_id"] == REQUEST_ID

    async def finished() -> bool:
        body = (await client.get(f"/v1/jobs/{job['id']}")).json()
        assert body["status"] not in {"failed", "interrupted"}, body
        return body["status"] == "succeeded"

    await wait_until(finished, what="the import job succeeded", within=60)
    headers = await wait_until(
        lambda: delivered_import(receiver), what="customers.imported delivered", within=30
    )
    await wait_until(
        lambda: worker.events("webhook_attempt"), what="the delivery logged", within=30
    )
    return job["id"], headers


@pytest.mark.slow
async def test_a_worker_serves_its_metrics_and_one_request_id_follows_the_work(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    async with running_receiver() as receiver, logged_worker(db) as worker:
        job_id, webhook_headers = await connect_and_run(client, receiver, worker)
        scraped_text = await worker.scrape()

    # The webhook itself names the request.
    assert webhook_headers["x-request-id"] == REQUEST_ID

    # Every line of the run names the job and the request: its start and end, and each
    # Directo call it made.
    of_job = [line for line in worker.lines if line.get("job_id") == job_id]
    assert {line["request_id"] for line in of_job} == {REQUEST_ID}
    assert {"job_started", "directo_call", "job_finished"} <= {line["event"] for line in of_job}
    calls = [line for line in of_job if line["event"] == "directo_call"]
    assert {(call["what"], call["operation"]) for call in calls} >= {("customer", "get")}
    assert all(call["duration_ms"] >= 0 and call["attempt"] >= 1 for call in calls)
    # … and the delivery of the event the job announced.
    [delivery] = [
        line
        for line in worker.events("webhook_attempt")
        if line["event_type"] == "customers.imported"
    ]
    assert (delivery["request_id"], delivery["job_id"]) == (REQUEST_ID, job_id)
    assert delivery["outcome"] == "succeeded"

    # Idle ticks (one every 2 s) and arq's own per-job lines stay out of an INFO log.
    ticks = worker.events("cron_tick")
    assert [tick for tick in ticks if not did_something(tick["result"])] == []
    arq_job_lines = [
        line
        for line in worker.lines
        if line.get("logger") == "arq.worker" and line["event"].lstrip()[:1].isdigit()
    ]
    assert arq_job_lines == []

    scraped = samples(scraped_text)
    job = {"job": "customers_import"}
    assert value(scraped, "gateway_job_runs_total", **job, outcome="succeeded") == 1
    assert value(scraped, "gateway_job_run_seconds_count", **job, outcome="succeeded") == 1
    assert value(scraped, "gateway_jobs_finished_total", **job, status="succeeded") == 1
    assert (value(scraped, "gateway_webhook_deliveries_total", outcome="success") or 0) >= 1
    get_customers = {"what": "customer", "operation": "get"}
    assert (value(scraped, "gateway_directo_calls_total", **get_customers, outcome="ok") or 0) >= 1
    assert (value(scraped, "gateway_directo_call_seconds_count", **get_customers) or 0) >= 1
    # The deployment-wide gauges, read from the database at the scrape.
    assert value(scraped, "gateway_jobs_queued", **job) == 0
    assert value(scraped, "gateway_jobs_oldest_queued_age_seconds", **job) == 0
    assert value(scraped, "gateway_webhook_deliveries_pending") is not None
    assert value(scraped, "gateway_webhook_outbox_lag_seconds") is not None
    customers = {"feed": "customers"}
    assert value(scraped, "gateway_feed_freshness_connections", **customers, le="3600") == 1
    assert value(scraped, "gateway_feed_freshness_connections", **customers, le="+Inf") == 1
    lag = value(scraped, "gateway_feed_freshness_lag_max_seconds", **customers)
    assert lag is not None
    assert 0 <= lag < 3600
    # Low cardinality: no company, connection or job id in any label.
    assert COMPANY not in scraped_text
    assert job_id not in scraped_text
