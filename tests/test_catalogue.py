"""Customers, import preview, links and articles — through the API and a real worker,
against the sandbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from app.db.models import Job, Reload, SyncWatermark
from app.directo.sandbox import Faults, SandboxState
from app.jobs.names import JobName
from app.resources import Resources
from app.sync.catalogue import fold
from app.sync.refresh import start_due_refreshes
from tests.helpers import run_worker_burst

COMPANY = "firm-1"
BASE = f"/v1/companies/{COMPANY}/directo"


async def connected(client: AsyncClient, db: Resources) -> dict[str, Any]:
    """Enable, connect to demo_ee, and run the first customer import to the end."""
    await client.put(BASE, json={})
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert response.status_code == 201, response.text
    await run_worker_burst(db.settings)
    job = (await client.get(f"/v1/jobs/{response.json()['import_job']['id']}")).json()
    assert job["status"] == "succeeded", job
    return dict(job)


async def run_import(client: AsyncClient, db: Resources, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{BASE}/imports", json={"feed": "customers", **body})
    assert response.status_code == 202, response.text
    await run_worker_burst(db.settings)
    return dict((await client.get(f"/v1/jobs/{response.json()['id']}")).json())


async def all_customers(client: AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (
            await client.get(
                f"{BASE}/customers",
                params={"limit": 200, **params, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_preview_lists_imported_customers_closed_hidden_by_default(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    first = await connected(client, db)
    assert first["counts"] == {
        "read": 500,
        "added": 500,
        "updated": 0,
        "unchanged": 0,
        "marked_missing": 0,
    }
    everyone = await all_customers(client, include_closed=True)
    visible = await all_customers(client)
    assert len(everyone) == 500
    assert len({item["code"] for item in everyone}) == 500
    closed = [item for item in everyone if item["closed"]]
    assert closed  # the sandbox seeds some
    assert len(visible) == 500 - len(closed)
    assert all(not item["closed"] for item in visible)
    assert [item["code"] for item in everyone] == sorted(item["code"] for item in everyone)
    sample = next(item for item in everyone if item["code"] == "K000001")
    seeded = sandbox.database("demo_ee").customer("K000001")
    assert seeded is not None
    assert sample["name"] == seeded[0]["name"]
    assert sample["address"]["address1"] == seeded[0]["address1"]
    assert sample["contact"] == {
        "name": seeded[0]["contact"],
        "email": seeded[0]["email"],
        "phone": seeded[0]["phone"],
    }
    assert sample["linked_client_id"] is None


async def test_search_ignores_case_and_accents(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    sandbox.database("demo_ee").upsert_customer(
        "K999001", {"name": "Õunapuu Ärikeskus OÜ", "regno": "10203040"}
    )
    await connected(client, db)
    for term in ("Ounapuu", "õunapuu", "ÕUNAPUU ÄRIK", "10203040", "k999001"):
        found = (await client.get(f"{BASE}/customers", params={"search": term})).json()["items"]
        assert "K999001" in [item["code"] for item in found], term
        folded = fold(term)
        for item in found:  # every hit really contains the term, accents and case aside
            haystack = fold(
                " ".join(
                    filter(
                        None,
                        (item["name"], item["code"], item["registration_code"], item["vat_number"]),
                    )
                )
            )
            assert folded in haystack, (term, item)
    assert (await client.get(f"{BASE}/customers", params={"search": "100%_"})).json()["items"] == []


async def test_linking_relinking_and_their_errors(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await client.put(BASE, json={})
    before_import = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000001"}
    )
    assert (before_import.status_code, before_import.json()["code"]) == (
        422,
        "customers_not_imported",
    )
    await connected(client, db)

    link = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link",
        json={"customer_code": "K000001", "country": "LV"},
    )
    assert link.status_code == 201, link.text
    assert (link.json()["customer_code"], link.json()["reload_id"]) == ("K000001", None)
    unknown = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "NOPE"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "customer_code_unknown")
    taken = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-2/directo/link", json={"customer_code": "K000001"}
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "customer_already_linked")
    assert "'c-1'" in taken.json()["detail"]

    linked = (await client.get(f"{BASE}/customers", params={"linked": "true"})).json()["items"]
    assert [(item["code"], item["linked_client_id"]) for item in linked] == [("K000001", "c-1")]
    unlinked = await all_customers(client, linked="false")
    assert "K000001" not in {item["code"] for item in unlinked}

    same = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000001"}
    )
    assert (same.status_code, same.json()["reload_id"]) == (200, None)
    await client.put(
        f"{BASE}/summary-settings",
        json={
            "task_title": "Kuu kokkuvõte",
            "import_day": {"rule": "last_work_day"},
            "field_mapping": {"sales_invoices": "uku-1"},
        },
    )
    relinked = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000002"}
    )
    assert relinked.status_code == 200
    assert relinked.json()["reload_id"] is not None
    async with db.sessionmaker() as session:
        reload = await session.get(Reload, relinked.json()["reload_id"])
    assert reload is not None
    assert (reload.reason, reload.months, reload.clients_total) == ("relinked", 12, 1)

    assert (
        await client.delete(f"/v1/companies/{COMPANY}/clients/c-1/directo/link")
    ).status_code == 204
    assert (
        await client.delete(f"/v1/companies/{COMPANY}/clients/c-1/directo/link")
    ).status_code == 404


async def test_incremental_import_picks_up_one_changed_customer_and_nothing_else(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    sandbox.database("demo_ee").upsert_customer("K000007", {"name": "Muudetud Nimi AS"})
    job = await run_import(client, db)
    assert job["status"] == "succeeded"
    assert job["result"]["full"] is False
    assert (job["counts"]["added"], job["counts"]["updated"], job["counts"]["marked_missing"]) == (
        0,
        1,
        0,
    )
    assert job["counts"]["read"] < 500  # only the overlap window and the change were read
    changed = (await client.get(f"{BASE}/customers", params={"search": "Muudetud"})).json()["items"]
    assert [item["code"] for item in changed] == ["K000007"]
    again = await run_import(client, db)
    assert (again["counts"]["added"], again["counts"]["updated"]) == (0, 0)


async def test_full_import_marks_a_removed_customer_and_unmarks_it_when_back(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    database = sandbox.database("demo_ee")
    kept = database.customer("K000003")
    assert kept is not None
    database.delete_customer("K000003")
    job = await run_import(client, db, full=True)
    assert job["counts"]["marked_missing"] == 1
    gone = next(
        item
        for item in await all_customers(client, include_closed=True)
        if item["code"] == "K000003"
    )
    assert gone["missing_since"] is not None
    database.upsert_customer("K000003", kept[0])
    back = await run_import(client, db, full=True)
    assert (back["counts"]["marked_missing"], back["counts"]["updated"]) == (0, 1)
    again = next(
        item
        for item in await all_customers(client, include_closed=True)
        if item["code"] == "K000003"
    )
    assert again["missing_since"] is None


async def test_a_truncated_feed_leaves_data_and_watermark_unchanged(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    async with db.sessionmaker() as session:
        before = await session.scalar(select(SyncWatermark))
    assert before is not None
    database = sandbox.database("demo_ee")
    database.upsert_customer("K000009", {"name": "Peaks jääma nägemata"})
    database.set_faults(Faults(truncate_rate=1.0))
    job = await run_import(client, db, full=True)
    assert job["status"] == "failed"
    assert job["errors"][-1]["code"] == "truncated_response"
    assert job["attempts"] == 3  # retried, bounded
    async with db.sessionmaker() as session:
        after = await session.scalar(select(SyncWatermark))
    assert after is not None
    assert (after.watermark_ts, after.last_run_at) == (before.watermark_ts, before.last_run_at)
    assert (await client.get(f"{BASE}/customers", params={"search": "nägemata"})).json()[
        "items"
    ] == []


async def test_a_second_import_request_returns_the_running_one(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    first = (await client.post(f"{BASE}/imports", json={"feed": "articles"})).json()
    second = (await client.post(f"{BASE}/imports", json={"feed": "articles", "full": True})).json()
    assert first["id"] == second["id"]
    await run_worker_burst(db.settings)
    articles = (await client.get(f"{BASE}/articles", params={"limit": 500})).json()["items"]
    assert articles
    assert all(not article["closed"] for article in articles)
    everything = (
        await client.get(f"{BASE}/articles", params={"limit": 500, "include_closed": True})
    ).json()["items"]
    assert len(everything) == 60
    third = (await client.post(f"{BASE}/imports", json={"feed": "articles"})).json()
    assert third["id"] != first["id"]  # the first one finished


async def test_scheduled_refresh_starts_due_imports_once(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    interval = dt.timedelta(hours=6)
    now = dt.datetime.now(dt.UTC)
    async with db.sessionmaker() as session, session.begin():
        started = await start_due_refreshes(session, now=now, interval=interval)
    assert [job.kind for job in started] == ["articles_import"]  # customers ran just now
    async with db.sessionmaker() as session, session.begin():
        assert await start_due_refreshes(session, now=now, interval=interval) == []  # single flight
    later = now + interval * 1.2
    for job in started:  # what the cron does after starting them
        await db.queue.enqueue(JobName(job.kind), job.id)
    await run_worker_burst(db.settings)
    async with db.sessionmaker() as session, session.begin():
        due_later = await start_due_refreshes(session, now=later, interval=interval)
    assert sorted(job.kind for job in due_later) == ["articles_import", "customers_import"]
    await client.delete(BASE)  # disabling stops scheduled work
    async with db.sessionmaker() as session:
        jobs = (await session.execute(select(Job).where(Job.status == "queued"))).scalars().all()
        for job in jobs:
            await session.delete(job)
        await session.commit()
    async with db.sessionmaker() as session, session.begin():
        assert await start_due_refreshes(session, now=later, interval=interval) == []
