"""The operator's lists through the API: a company's jobs (filtered, paged), its reloads,
and its failing webhook deliveries — never another company's rows."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from app.directo.sandbox import SandboxState
from app.resources import Resources
from app.webhooks.delivery import deliver_due
from app.webhooks.outbox import emit
from app.webhooks.types import EventType
from tests.support.helpers import run_worker_burst
from tests.support.reloads import reload_all
from tests.support.statistics import COMPANY, busiest_customers, set_up_company

A, B = COMPANY, "other-firm"


def _iso(moment: dt.datetime) -> str:
    return quote(moment.isoformat())


async def _connect(client: AsyncClient, company: str, token: str) -> dict[str, object]:
    assert (await client.put(f"/v1/companies/{company}/directo", json={})).status_code in (
        200,
        201,
    )
    connected = await client.put(
        f"/v1/companies/{company}/directo/connection", json={"token": token}
    )
    assert connected.status_code == 201, connected.text
    return dict(connected.json())


@pytest.mark.slow
async def test_jobs_are_listed_per_company_newest_first_and_filtered(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={})
    b_import = (await _connect(client, B, "sandbox-token-lv"))["import_job"]["id"]  # type: ignore[index]
    articles = await client.post(f"/v1/companies/{A}/directo/imports", json={"feed": "articles"})
    await run_worker_burst(db.settings)
    async with db.engine.begin() as connection:  # A's article import failed an hour ago
        await connection.execute(
            text(
                "UPDATE jobs SET status = 'failed', created_at = now() - interval '2 hours',"
                ' errors = \'[{"code": "feed_not_activated"}]\' WHERE id = :id'
            ),
            {"id": articles.json()["id"]},
        )

    listed = (await client.get(f"/v1/jobs?company_id={A}")).json()
    assert [job["kind"] for job in listed["items"]] == ["customers_import", "articles_import"]
    assert listed["next_cursor"] is None
    assert b_import not in str(listed)

    failed = (await client.get(f"/v1/jobs?company_id={A}&status=failed")).json()
    assert [(job["id"], job["errors"]) for job in failed["items"]] == [
        (articles.json()["id"], [{"code": "feed_not_activated"}])
    ]
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    recent = (await client.get(f"/v1/jobs?company_id={A}&created_since={_iso(an_hour_ago)}")).json()
    assert [job["kind"] for job in recent["items"]] == ["customers_import"]
    older = (await client.get(f"/v1/jobs?company_id={A}&created_until={_iso(an_hour_ago)}")).json()
    assert [job["kind"] for job in older["items"]] == ["articles_import"]
    kinds = (
        await client.get(f"/v1/jobs?company_id={A}&kind=articles_import&kind=payment_poll")
    ).json()
    assert [job["kind"] for job in kinds["items"]] == ["articles_import"]

    first = (await client.get(f"/v1/jobs?company_id={A}&limit=1")).json()
    second = (
        await client.get(f"/v1/jobs?company_id={A}&limit=1&cursor={first['next_cursor']}")
    ).json()
    assert [job["kind"] for job in first["items"] + second["items"]] == [
        "customers_import",
        "articles_import",
    ]
    assert second["next_cursor"] is None

    naive = await client.get(f"/v1/jobs?company_id={A}&created_since=2026-01-01T00:00:00")
    assert (naive.status_code, naive.json()["code"]) == (422, "time_zone_missing")
    assert (await client.get("/v1/jobs")).status_code == 422  # the company is required
    assert (await client.get("/v1/jobs?company_id=nobody")).json() == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.slow
async def test_a_companys_reloads_are_listed_and_no_other_companys(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={"c-1": busiest_customers(sandbox, 1)[0]})
    finished = await reload_all(client, db, months=2)
    listed = (await client.get(f"/v1/companies/{A}/directo/reloads")).json()
    [item] = listed["items"]
    assert item["id"] == finished["id"]
    assert item["status"] == finished["status"]
    assert item["progress"] == finished["progress"]
    assert (item["months"], item["errors"], listed["next_cursor"]) == (2, [], None)
    assert (await client.get(f"/v1/companies/{B}/directo/reloads")).json() == {
        "items": [],
        "next_cursor": None,
    }


async def test_failing_deliveries_across_a_companys_endpoints(
    client: AsyncClient, db: Resources
) -> None:
    for company in (A, B):
        created = await client.post(
            f"/v1/companies/{company}/webhook-endpoints",
            json={"url": f"http://127.0.0.1:9/{company}-hook"},  # a closed port: every try fails
        )
        assert created.status_code == 201, created.text
    async with db.sessionmaker() as session, session.begin():
        for company in (A, B):
            await emit(session, company_id=company, type_=EventType.INVOICE_PAID, payload={})
    await deliver_due(db)

    failing = (await client.get(f"/v1/companies/{A}/webhooks/deliveries")).json()
    [delivery] = failing["items"]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)  # retrying
    assert delivery["attempt_log"][0]["error"].startswith("connection failed")
    assert B not in str(failing)
    given_up = await client.get(f"/v1/companies/{A}/webhooks/deliveries?status=failed")
    assert given_up.json() == {"items": [], "next_cursor": None}
    async with db.engine.begin() as connection:
        await connection.execute(
            text("UPDATE webhook_deliveries SET status = 'failed' WHERE company_id = :c"),
            {"c": A},
        )
    given_up = await client.get(f"/v1/companies/{A}/webhooks/deliveries?status=failed")
    assert [item["id"] for item in given_up.json()["items"]] == [delivery["id"]]
