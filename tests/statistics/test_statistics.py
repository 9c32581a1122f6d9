"""Monthly statistics and reloads — through the API and a real worker, against the sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from asyncio.subprocess import PIPE
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, update

from app.db.models import Connection, ConnectionHealth, Event, Job, MonthlyStatistic
from app.db.models import SummarySettings as SummarySettingsRow
from app.directo.sandbox import SandboxState
from app.directo.sandbox.filters import Filters
from app.queue.names import JobName
from app.resources import Resources
from app.statistics.import_days import (
    BALTIC_TIME,
    add_months,
    first_of_month,
    last_day,
    local_today,
)
from app.statistics.monthly_import import start_due_imports
from app.webhooks.delivery import deliver_due
from app.webhooks.verify import verify_webhook
from tests.support.helpers import run_worker_burst
from tests.support.receiver import running_receiver
from tests.support.statistics import BASE, COMPANY, MAPPING, busiest_customers, set_up_company


def expected_linked(sandbox: SandboxState, code: str, month: dt.date) -> dict[str, str]:
    """The linked-customer values of `month`, computed straight from the sandbox's data."""
    db = sandbox.database("demo_ee")
    every = Filters.from_params({})
    invoices = [
        (attrs, children)
        for attrs, children in db.records("invoice", every)
        if attrs["customercode"] == code and attrs["date"][:7] == month.strftime("%Y-%m")
    ]
    # Receipts are dated on their rows (the sandbox serves them as Directo's schema has it).
    receipts = [
        (attrs, rows)
        for attrs, children in db.records("receipt", every)
        if (rows := [row for row in children["rows"] if row["customer"] == code and
                     row["aeg"][:7] == month.strftime("%Y-%m")])
    ]  # fmt: skip
    net = sum((Decimal(attrs["netamount"]) for attrs, _ in invoices), Decimal(0))
    return {
        "sales_invoices": str(len(invoices)),
        "sales_invoice_rows": str(sum(len(children["rows"]) for _, children in invoices)),
        "bank_transactions": str(len(receipts)),
        "documents": str(len(invoices) + len(receipts)),
        "sales_net_total": str(net.quantize(Decimal("0.01"))).removesuffix(".00")
        if net == net.to_integral()
        else str(net.quantize(Decimal("0.01"))),
    }


def month_values(statistics: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        month["month"]: {value["field_key"]: value["value"] for value in month["values"]}
        for month in statistics["months"]
    }


@pytest.mark.slow
async def test_reload_back_fills_twelve_months_and_overwrites_old_values(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 3)
    links = {f"client-{n}": code for n, code in enumerate(codes)}
    await set_up_company(client, db, links=links)
    current = first_of_month(local_today())
    stale_month = add_months(current, -2)
    async with db.sessionmaker() as session, session.begin():
        session.add(
            MonthlyStatistic(
                company_id=COMPANY,
                client_id="client-0",
                month=stale_month,
                field_key="active_customers",
                value=Decimal(999),
                imported_at=dt.datetime.now(dt.UTC),
            )
        )
    sandbox.clear_requests()

    async with running_receiver() as receiver:
        started = await client.post(
            f"{BASE}/directo/reloads", json={"callback_url": receiver.url("/cb")}
        )
        assert started.status_code == 202, started.text
        reload = started.json()
        assert (reload["status"], reload["months"], reload["all_clients"]) == ("queued", 12, True)
        assert reload["progress"] == {"clients_total": 3, "clients_done": 0, "clients_failed": 0}
        assert reload["month_to"] == current.strftime("%Y-%m")
        assert reload["month_from"] == add_months(current, -11).strftime("%Y-%m")

        await run_worker_burst(db.settings)
        done = (await client.get(f"/v1/reloads/{reload['id']}")).json()
        assert done["status"] == "succeeded", done
        assert done["progress"] == {"clients_total": 3, "clients_done": 3, "clients_failed": 0}
        assert done["phase"] == "done"
        assert [row["months_written"] for row in done["clients"]] == [12, 12, 12]

        # Each feed once per client for the whole range — not once per month.
        calls = [entry for entry in sandbox.requests if entry.op == "get"]
        assert sorted((entry.what, entry.params["customercode"]) for entry in calls) == sorted(
            (what, code) for code in codes for what in ("invoice", "receipt")
        )
        first_day, final_day = add_months(current, -11), last_day(current)
        assert {(entry.params["date1"], entry.params["date2"]) for entry in calls} == {
            (first_day.strftime("%d.%m.%Y"), final_day.strftime("%d.%m.%Y"))
        }

        for client_id, code in links.items():
            statistics = (
                await client.get(
                    f"{BASE}/clients/{client_id}/directo/statistics",
                    params={"from": reload["month_from"], "to": reload["month_to"]},
                )
            ).json()
            values = month_values(statistics)
            assert len(values) == 12
            for month_text, stored in values.items():
                month = dt.date.fromisoformat(month_text + "-01")
                # Purchases are not the linked client's work; unmapped fields not stored.
                assert stored == expected_linked(sandbox, code, month), (client_id, month_text)
            first = statistics["months"][0]["values"][0]
            assert first["uku_field_id"] == MAPPING[first["field_key"]]
            assert first["job_id"] == done["job_id"]
        assert sum(int(v["sales_invoices"]) for v in values.values()) > 0
        assert sum(int(v["bank_transactions"]) for v in values.values()) > 0

        async with db.sessionmaker() as session:
            stale = await session.scalar(
                select(MonthlyStatistic).where(
                    MonthlyStatistic.client_id == "client-0",
                    MonthlyStatistic.field_key == "active_customers",
                )
            )
        assert stale is None  # the reloaded month was overwritten as a whole

        await deliver_due(db)
        [callback] = [request for request in receiver.requests if request.path == "/cb"]
        secret = (await client.post(f"{BASE}/callback-secret/reveal")).json()["secret"]
        event = verify_webhook(secret, callback.headers, callback.body)
        assert event["type"] == "reload.completed"
        assert event["data"]["status"] == "succeeded"
        assert event["data"]["clients_succeeded"] == 3
        assert event["data"]["reload_id"] == reload["id"]


@pytest.mark.slow
async def test_revoked_token_fails_one_client_and_the_rest_are_stored(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 2)
    await set_up_company(client, db, links={"linked-a": codes[0], "linked-b": codes[1]})
    own = await client.put(
        f"{BASE}/clients/own-c/directo/connection", json={"token": "sandbox-token-lv"}
    )
    assert own.status_code == 201, own.text
    await run_worker_burst(db.settings)
    sandbox.revoke_token("sandbox-token-lv")

    started = await client.post(f"{BASE}/directo/reloads", json={"months": 3})
    assert started.status_code == 202, started.text
    await run_worker_burst(db.settings)
    done = (await client.get(f"/v1/reloads/{started.json()['id']}")).json()
    assert done["status"] == "partially_failed", done
    assert done["progress"] == {"clients_total": 3, "clients_done": 2, "clients_failed": 1}
    by_client = {row["client_id"]: row for row in done["clients"]}
    assert by_client["own-c"]["status"] == "failed"
    assert by_client["own-c"]["error"]["code"] == "unauthorized"
    assert by_client["linked-a"]["months_written"] == 3
    for client_id in ("linked-a", "linked-b"):
        statistics = (await client.get(f"{BASE}/clients/{client_id}/directo/statistics")).json()
        assert sum(1 for month in statistics["months"] if month["values"]) == 3
    own_statistics = (await client.get(f"{BASE}/clients/own-c/directo/statistics")).json()
    assert all(month["values"] == [] for month in own_statistics["months"])

    async with db.sessionmaker() as session:
        connection = await session.scalar(select(Connection).where(Connection.client_id == "own-c"))
        events = list((await session.execute(select(Event).order_by(Event.sequence))).scalars())
    assert connection is not None
    assert connection.health is ConnectionHealth.NEEDS_ATTENTION
    completed = [event for event in events if event.type == "reload.completed"]
    assert len(completed) == 1
    payload = completed[0].payload
    assert (payload["status"], payload["clients_failed"]) == ("partially_failed", 1)
    assert payload["errors"][0]["client_id"] == "own-c"
    assert [event.type for event in events].count("connection.failed") == 1


@pytest.mark.slow
async def test_own_connection_counts_the_whole_database(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await set_up_company(client, db, links={})
    own = await client.put(
        f"{BASE}/clients/own-lv/directo/connection", json={"token": "sandbox-token-lv"}
    )
    assert own.status_code == 201, own.text
    started = await client.post(
        f"{BASE}/directo/reloads", json={"client_ids": ["own-lv"], "months": 2}
    )
    assert started.status_code == 202, started.text
    await run_worker_burst(db.settings)
    done = (await client.get(f"/v1/reloads/{started.json()['id']}")).json()
    assert done["status"] == "succeeded", done
    statistics = (
        await client.get(
            f"{BASE}/clients/own-lv/directo/statistics",
            params={"from": done["month_from"], "to": done["month_to"]},
        )
    ).json()
    lv = sandbox.database("demo_lv")
    every = Filters.from_params({})
    for month in statistics["months"]:
        stored = {value["field_key"]: value["value"] for value in month["values"]}
        invoices = sum(
            1 for attrs, _ in lv.records("invoice", every) if attrs["date"][:7] == month["month"]
        )
        purchases = sum(
            1 for attrs, _ in lv.records("purchase", every) if attrs["date"][:7] == month["month"]
        )
        transactions = sum(
            1
            for attrs, _ in lv.records("transaction", every)
            if attrs["date"][:7] == month["month"]
        )
        receipts = sum(
            1
            for _, children in lv.records("receipt", every)
            if any(row["aeg"][:7] == month["month"] for row in children["rows"])
        )
        assert stored["sales_invoices"] == str(invoices)
        assert stored["purchase_invoices"] == str(purchases)
        assert stored["documents"] == str(invoices + purchases + transactions + receipts)
        assert "ledger_transactions" not in stored  # mapped to null: not imported


@pytest.mark.slow
@pytest.mark.parametrize("header_dates", [False, True], ids=["schema-shape", "wiki-shape"])
async def test_receipts_are_counted_by_their_rows_in_either_shape(
    client: AsyncClient, db: Resources, sandbox: SandboxState, header_dates: bool
) -> None:
    lv = sandbox.add_database(
        replace(sandbox.database("demo_lv").spec, receipt_header_dates=header_dates)
    )
    current = first_of_month(local_today())
    previous = add_months(current, -1)
    # One receipt paying two invoices on two days that fall in two months.
    invoices = [attrs for attrs, _ in lv.records("invoice", Filters.from_params({}))][:2]
    rows = [
        {"invoice": invoice["number"], "aeg": f"{day.isoformat()}T00:00:00",
         "customer": invoice["customercode"], "received": amount}
        for invoice, day, amount in zip(
            invoices, (last_day(previous), current), ("100.25", "200.50"), strict=True
        )
    ]  # fmt: skip
    lv.add_receipt({"number": "790001", "paymentmode": "PANK", "confirmed": "1",
                    "aeg": f"{last_day(previous).isoformat()}T00:00:00"}, rows)  # fmt: skip
    await set_up_company(
        client, db, links={},
        mapping={"bank_transactions": "uku-bank", "receipts_total": "uku-received"},
    )  # fmt: skip
    own = await client.put(
        f"{BASE}/clients/own-lv/directo/connection", json={"token": "sandbox-token-lv"}
    )
    assert own.status_code == 201, own.text
    started = await client.post(
        f"{BASE}/directo/reloads", json={"client_ids": ["own-lv"], "months": 2}
    )
    assert started.status_code == 202, started.text
    await run_worker_burst(db.settings)
    done = (await client.get(f"/v1/reloads/{started.json()['id']}")).json()
    assert done["status"] == "succeeded", done
    stored = month_values(
        (
            await client.get(
                f"{BASE}/clients/own-lv/directo/statistics",
                params={"from": done["month_from"], "to": done["month_to"]},
            )
        ).json()
    )
    served = list(lv.records("receipt", Filters.from_params({})))
    assert all(("aeg" in attrs) is header_dates for attrs, _ in served)
    for month in (previous, current):
        key = month.strftime("%Y-%m")
        dated = [
            [row for row in children["rows"] if row["aeg"][:7] == key] for _, children in served
        ]
        total = sum((Decimal(row["received"]) for rows in dated for row in rows), Decimal(0))
        assert stored[key]["bank_transactions"] == str(sum(1 for rows in dated if rows))
        assert Decimal(stored[key]["receipts_total"]) == total
        assert Decimal(stored[key]["receipts_total"]) >= Decimal("100.25")  # the split receipt


@pytest.mark.slow
async def test_overlapping_reload_requests_get_the_running_one(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 3)
    await set_up_company(client, db, links={"a": codes[0], "b": codes[1], "c": codes[2]})
    first = await client.post(f"{BASE}/directo/reloads", json={"client_ids": ["a", "b"]})
    assert first.status_code == 202
    overlapping = await asyncio.gather(
        *(client.post(f"{BASE}/directo/reloads", json={"client_ids": ["b", "c"]}) for _ in range(5))
    )
    assert {(r.status_code, r.json()["id"]) for r in overlapping} == {(200, first.json()["id"])}
    everyone = await client.post(f"{BASE}/directo/reloads", json={})
    assert (everyone.status_code, everyone.json()["id"]) == (200, first.json()["id"])

    await run_worker_burst(db.settings)
    separate = await client.post(f"{BASE}/directo/reloads", json={"client_ids": ["c"]})
    assert separate.status_code == 202
    assert separate.json()["id"] != first.json()["id"]

    relinked = await client.put(f"{BASE}/clients/c/directo/link", json={"customer_code": codes[0]})
    assert relinked.status_code == 409  # codes[0] belongs to "a"
    await client.delete(f"{BASE}/clients/a/directo/link")
    await run_worker_burst(db.settings)
    relinked = await client.put(f"{BASE}/clients/c/directo/link", json={"customer_code": codes[0]})
    assert relinked.status_code == 200, relinked.text
    reload_id = relinked.json()["reload_id"]
    await run_worker_burst(db.settings)
    after_relink = (await client.get(f"/v1/reloads/{reload_id}")).json()
    assert (after_relink["status"], after_relink["reason"]) == ("succeeded", "relinked")
    assert [row["client_id"] for row in after_relink["clients"]] == ["c"]


@pytest.mark.slow
async def test_reload_requests_are_validated(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await client.put(f"{BASE}/directo", json={})
    missing = await client.post(f"{BASE}/directo/reloads", json={})
    assert (missing.status_code, missing.json()["code"]) == (409, "summary_settings_missing")
    codes = busiest_customers(sandbox, 1)
    await set_up_company(client, db, links={"x": codes[0]})
    unknown = await client.post(f"{BASE}/directo/reloads", json={"client_ids": ["x", "ghost"]})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "client_not_connected")
    assert [item["loc"] for item in unknown.json()["errors"]] == [["body", "client_ids", 1]]
    for body in ({"months": 0}, {"months": 37}, {"client_ids": []}, {"client_ids": ["bad id"]}):
        response = await client.post(f"{BASE}/directo/reloads", json=body)
        assert response.status_code == 422, body
    assert (await client.get("/v1/reloads/00000000-0000-0000-0000-000000000000")).status_code == 404
    assert (await client.get("/v1/reloads/not-a-uuid")).status_code == 422
    for params in ({"from": "2026-13"}, {"from": "2026-05", "to": "2026-04"},
                   {"from": "2020-01", "to": "2026-01"}):  # fmt: skip
        response = await client.get(f"{BASE}/clients/x/directo/statistics", params=params)
        assert response.status_code == 422, params
    other = await client.get("/v1/companies/someone-else/clients/x/directo/statistics")
    assert other.status_code == 404
    disabled = await client.delete(f"{BASE}/directo")
    assert disabled.status_code in (200, 204)
    refused = await client.post(f"{BASE}/directo/reloads", json={})
    assert refused.status_code in (404, 409)


@pytest.mark.slow
async def test_scheduled_tick_imports_each_client_month_once(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 2)
    await set_up_company(client, db, links={"s-1": codes[0], "s-2": codes[1]})
    today = local_today()
    previous = add_months(first_of_month(today), -1)
    async with db.sessionmaker() as session, session.begin():
        # The settings existed before last month's import day (its last calendar day).
        await session.execute(
            update(SummarySettingsRow).values(
                created_at=dt.datetime.combine(add_months(previous, -1), dt.time(), dt.UTC)
            )
        )

    # The second day of this month: last month is first read, the month before it settled.
    now = dt.datetime.combine(first_of_month(today).replace(day=2), dt.time(), BALTIC_TIME)

    async def tick() -> list[Job]:
        async with db.sessionmaker() as session, session.begin():
            return await start_due_imports(session, now=now, timing=db.settings.statistics)

    ticks = await asyncio.gather(tick(), tick(), tick())
    created = [job for jobs in ticks for job in jobs]
    # Last month's import day has ended for both clients; this month's has not.
    due = [add_months(previous, -1), previous]
    read = [(client, job.params["month"]) for job in created for client in job.params["client_ids"]]
    assert sorted(read) == sorted(
        (client_id, month.isoformat()) for client_id in ("s-1", "s-2") for month in due
    )
    assert await tick() == []  # later ticks create nothing

    for job in created:
        await db.queue.enqueue(JobName.STATISTICS_IMPORT, job.id)
    await run_worker_burst(db.settings)
    async with db.sessionmaker() as session:
        jobs = list(
            (
                await session.execute(select(Job).where(Job.kind == JobName.STATISTICS_IMPORT))
            ).scalars()
        )
        events = list(
            (
                await session.execute(
                    select(Event)
                    .where(Event.type == "statistics.imported")
                    .order_by(Event.sequence)
                )
            ).scalars()
        )
    assert {job.status.value for job in jobs} == {"succeeded"}
    assert len(events) == sum(len(job.params["client_ids"]) for job in jobs)
    event = next(
        event
        for event in events
        if event.payload["client_id"] == "s-1"
        and event.payload["month"] == previous.strftime("%Y-%m")
    )
    values = {value["field_key"]: value["value"] for value in event.payload["values"]}
    assert values == expected_linked(sandbox, codes[0], previous)
    assert json.dumps(event.payload)  # plain JSON
    statistics = (
        await client.get(
            f"{BASE}/clients/s-1/directo/statistics",
            params={"from": previous.strftime("%Y-%m"), "to": previous.strftime("%Y-%m")},
        )
    ).json()
    assert month_values(statistics)[previous.strftime("%Y-%m")] == values


@pytest.mark.slow
async def test_cli_reload_shows_progress_until_the_end(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    codes = busiest_customers(sandbox, 2)
    await set_up_company(client, db, links={"cli-1": codes[0], "cli-2": codes[1]})
    env = {
        **os.environ,
        "GATEWAY_DATABASE__URL": db.settings.database.url,
        "GATEWAY_REDIS__URL": db.settings.redis.url,
        "GATEWAY_REDIS__QUEUE_NAME": db.settings.redis.queue_name,
    }
    command = [sys.executable, "-m", "app.cli", "reload", "--company", COMPANY, "--months", "2"]
    process = await asyncio.create_subprocess_exec(*command, env=env, stdout=PIPE, stderr=PIPE)
    communicating = asyncio.ensure_future(process.communicate())
    async with asyncio.timeout(120):
        while not communicating.done():
            await run_worker_burst(db.settings)
            await asyncio.sleep(0.2)
    out, err = communicating.result()
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert "reload started" in text
    assert "(2 clients)" in text
    assert "succeeded: 2 succeeded, 0 failed" in text
    async with db.sessionmaker() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(MonthlyStatistic)
            .where(MonthlyStatistic.client_id.in_(["cli-1", "cli-2"]))
        )
    assert stored == 2 * 2 * 5  # clients × months × mapped fields a linked client supports

    unknown = await asyncio.create_subprocess_exec(
        *command[:-4], "--company", COMPANY, "--client", "nobody", env=env, stdout=PIPE, stderr=PIPE
    )
    _, err = await unknown.communicate()
    assert unknown.returncode == 2
    assert b"client_not_connected" in err
