"""The connection test covers every feed the product uses, and a feed a configured feature
needs but the key lacks degrades the connection and fails that feature with
`feed_not_activated` — through the API and a real worker, against the sandbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from httpx import AsyncClient

from app.db.repositories import jobs as job_repo
from app.directo.sandbox import SandboxState, ServerMode, TokenSpec
from app.directo.sandbox.config import ALL_COMPONENTS
from app.payments.poll import start_due_polls
from app.queue.names import JobName
from app.resources import Resources
from tests.support.exports_helpers import BASE as EXPORT_BASE
from tests.support.exports_helpers import COMPANY as EXPORT_COMPANY
from tests.support.exports_helpers import export_and_send, invoice, ready
from tests.support.helpers import run_worker_burst

COMPANY = "feeds-firm"
BASE = f"/v1/companies/{COMPANY}/directo"
EVERY_GET = {"customer", "item", "invoice", "receipt", "purchase", "transaction"}


def licensed(
    sandbox: SandboxState, token: str, *, without: set[str], database: str = "demo_ee"
) -> str:
    sandbox.add_token(TokenSpec(token, database, components=ALL_COMPONENTS - without))
    return token


async def enable(client: AsyncClient, base: str = BASE, **settings: Any) -> None:
    response = await client.put(base, json=settings)
    assert response.status_code in (200, 201), response.text


async def connection_events(client: AsyncClient, company: str) -> list[dict[str, Any]]:
    page = (await client.get(f"/v1/companies/{company}/events")).json()
    return [event for event in page["items"] if event["type"] == "connection.failed"]


async def test_the_test_probes_every_feed_with_dates_no_order_can_misread(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    await enable(client)
    sandbox.clear_requests()
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert response.status_code == 201, response.text
    probes = [entry for entry in sandbox.requests if entry.op == "get"]
    assert {entry.what for entry in probes} == EVERY_GET
    dates = [
        entry.params[name]
        for entry in probes
        for name in ("ts", "date1", "date2")
        if name in entry.params
    ]
    documents = EVERY_GET - {"customer", "item"}
    assert len(dates) == len(EVERY_GET) + 2 * len(documents)
    # Every date is the 31st: read month-first it is no date at all.
    assert all(value.startswith("31.12.2078") for value in dates), dates
    assert [entry.outcome for entry in sandbox.requests if entry.op == "put"] == ["put: 99"]
    assert sandbox.database("demo_ee").invoices == {}


async def test_a_directo_reading_dates_the_other_way_is_a_date_format_mismatch(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    await enable(client)
    sandbox.set_mode(ServerMode(filter_dates="iso"))
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "date_format_mismatch"
    assert "GATEWAY_DIRECTO__DATE_FORMAT" in body["detail"]
    refused = {item["loc"][-1] for item in body["errors"] if item["code"] == "date_format_mismatch"}
    assert refused == {
        "customers_out",
        "articles_out",
        "invoices_out",
        "receipts_out",
        "purchases_out",
        "transactions_out",
    }


async def test_paid_status_without_receipts_out_degrades_and_says_what_to_activate(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    token = licensed(sandbox, "no-receipts", without={"get:receipt"})
    await enable(client, invoice_export_enabled=False)
    quiet = await client.put(f"{BASE}/connection", json={"token": token})
    assert quiet.status_code == 201, quiet.text
    receipts = {c["capability"]: c for c in quiet.json()["test"]["capabilities"]}["receipts_out"]
    assert (receipts["ok"], receipts["code"], receipts["needed_by"]) == (
        False,
        "feed_not_activated",
        [],
    )
    assert quiet.json()["connection"]["health"] == "ok"  # nothing configured needs it yet

    await enable(client, invoice_export_enabled=True)
    tested = await client.post(f"{BASE}/connection/test")
    assert tested.status_code == 200, tested.text
    test = tested.json()["test"]
    assert (test["ok"], test["health"], test["code"]) == (True, "degraded", "feed_not_activated")
    assert test["missing_feeds"] == ["receipts_out"]
    needed = {c["capability"]: c["needed_by"] for c in test["capabilities"] if c["needed_by"]}
    assert needed == {
        "customers_out": ["customer_import"],
        "articles_out": ["article_import", "invoice_export"],
        "invoices_in": ["invoice_export"],
        "invoices_out": ["invoice_export", "paid_status"],
        "receipts_out": ["paid_status"],
    }
    hint = (
        "Ask Directo to activate receipts out (for paid status) for this XML Direct key, "
        "then test the connection again."
    )
    assert test["hint"] == hint
    connection = tested.json()["connection"]
    assert (connection["health"], connection["health_hint"]) == ("degraded", hint)
    assert connection["missing_feeds"] == ["receipts_out"]
    assert await connection_events(client, COMPANY) == []  # usable: not a failed connection

    sandbox.license(token, ALL_COMPONENTS)  # Directo activated it
    again = (await client.post(f"{BASE}/connection/test")).json()
    assert (again["connection"]["health"], again["connection"]["missing_feeds"]) == ("ok", [])


@pytest.mark.slow
async def test_the_payment_poll_fails_with_feed_not_activated_when_receipts_out_goes(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    exported = await export_and_send(client, db, invoice())
    assert exported["status"] == "sent", exported
    sandbox.license("sandbox-token-ee", ALL_COMPONENTS - {"get:receipt"})
    async with db.sessionmaker() as session, session.begin():
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        polls = await start_due_polls(session, now=later, interval=dt.timedelta(minutes=15))
    assert len(polls) == 1
    await db.queue.enqueue(JobName.PAYMENT_POLL, polls[0].id)
    await run_worker_burst(db.settings)
    job = (await client.get(f"/v1/jobs/{polls[0].id}")).json()
    assert job["status"] == "failed", job
    assert [error["code"] for error in job["errors"]] == ["feed_not_activated"]
    assert "receipts out" in job["errors"][0]["detail"]
    connection = (await client.get(f"{EXPORT_BASE}/connection")).json()
    assert (connection["health"], connection["last_error_code"]) == (
        "degraded",
        "feed_not_activated",
    )
    assert connection["missing_feeds"] == ["receipts_out"]
    assert "receipts out (for paid status)" in connection["health_hint"]
    assert await connection_events(client, EXPORT_COMPANY) == []


@pytest.mark.slow
async def test_an_own_connection_statistics_import_without_purchases_out_fails_clearly(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await enable(client)
    company = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert company.status_code == 201, company.text
    saved = await client.put(
        f"{BASE}/summary-settings",
        json={
            "task_title": "Kuu kokkuvõte",
            "import_day": {"rule": "last_calendar_day"},
            "field_mapping": {"sales_invoices": "uku-sales", "purchase_invoices": "uku-buy"},
        },
    )
    assert saved.status_code == 200, saved.text
    token = licensed(sandbox, "lv-no-purchases", without={"get:purchase"}, database="demo_lv")
    own = await client.put(
        f"/v1/companies/{COMPANY}/clients/own-lv/directo/connection", json={"token": token}
    )
    assert own.status_code == 201, own.text
    # The test already says so: statistics of this client need purchases out.
    assert own.json()["connection"]["missing_feeds"] == ["purchases_out"]
    assert "purchases out (for statistics)" in own.json()["connection"]["health_hint"]
    await run_worker_burst(db.settings)  # the customer imports

    month = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    async with db.sessionmaker() as session, session.begin():
        job = await job_repo.create_job(
            session,
            kind=JobName.STATISTICS_IMPORT.value,
            company_id=COMPANY,
            params={"client_id": "own-lv", "month": month.replace(day=1).isoformat()},
        )
    await db.queue.enqueue(JobName.STATISTICS_IMPORT, job.id)
    reload = await client.post(f"{BASE}/reloads", json={"client_ids": ["own-lv"], "months": 2})
    assert reload.status_code == 202, reload.text
    await run_worker_burst(db.settings)

    imported = (await client.get(f"/v1/jobs/{job.id}")).json()
    assert imported["status"] == "failed", imported
    assert [error["code"] for error in imported["errors"]] == ["feed_not_activated"]
    assert "purchases out" in imported["errors"][0]["detail"]
    reloaded = (await client.get(f"/v1/reloads/{reload.json()['id']}")).json()
    (result,) = reloaded["clients"]
    assert result["error"]["code"] == "feed_not_activated", reloaded
    assert "Ask Directo to activate purchases out" in result["error"]["hint"]
    own_connection = (
        await client.get(f"/v1/companies/{COMPANY}/clients/own-lv/directo/connection")
    ).json()
    assert (own_connection["health"], own_connection["missing_feeds"]) == (
        "degraded",
        ["purchases_out"],
    )
    assert await connection_events(client, COMPANY) == []
