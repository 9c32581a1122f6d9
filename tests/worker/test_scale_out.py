"""Scale-out: two API processes and two worker processes on one PostgreSQL and Redis run
the whole flow — connect, import, reload, export, paid — with every request sent to both
APIs at once, and nothing is done twice: one import, one reload, one Directo invoice, and
each webhook event delivered once."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from asyncio.subprocess import DEVNULL, Process
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db.models import Event, Job
from app.directo.sandbox import SandboxState
from app.payments.poll import start_due_polls
from app.queue.names import JobName
from app.resources import Resources
from tests.conftest import API_KEY
from tests.support.exports_helpers import SEED_INVOICE
from tests.support.receiver import free_port, running_receiver
from tests.support.statistics import busiest_customers
from tests.support.workers import worker_env

COMPANY = "scale-firm"


@asynccontextmanager
async def processes(db: Resources) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two `serve` and two `worker` processes; yields a client for each API."""
    env = {**worker_env(db), "GATEWAY_API__KEYS": API_KEY}
    ports = [free_port(), free_port()]
    children: list[Process] = []
    for port in ports:
        children.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--port",
                str(port),
                env=env,
                stdout=DEVNULL,
                stderr=DEVNULL,
            )
        )
    for _ in range(2):
        children.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", "worker", env=env, stdout=DEVNULL
            )
        )
    headers = {"Authorization": f"Bearer {API_KEY}"}
    apis = [
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30)
        for port in ports
    ]
    try:
        async with asyncio.timeout(60):
            for api in apis:
                while True:
                    try:
                        if (await api.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)
        yield apis
    finally:
        for api in apis:
            await api.aclose()
        for child in children:
            if child.returncode is None:
                child.terminate()
        for child in children:
            await child.wait()


async def both(apis: list[httpx.AsyncClient], method: str, url: str, **kw: Any) -> list[Any]:
    """The same request to every API at once, three times each."""
    responses = await asyncio.gather(
        *(api.request(method, url, **kw) for api in apis for _ in range(3))
    )
    return list(responses)


async def until(api: httpx.AsyncClient, url: str, done: Any) -> Any:
    async with asyncio.timeout(90):
        while True:
            body = (await api.get(url)).json()
            if done(body):
                return body
            await asyncio.sleep(0.3)


@pytest.mark.slow
async def test_two_apis_and_two_workers_do_everything_exactly_once(
    db: Resources, sandbox: SandboxState
) -> None:
    base = f"/v1/companies/{COMPANY}/directo"
    codes = busiest_customers(sandbox, 3)
    async with running_receiver() as receiver, processes(db) as apis:
        a, b = apis
        endpoint = await a.post(
            f"/v1/companies/{COMPANY}/webhook-endpoints", json={"url": receiver.url("/hooks")}
        )
        assert endpoint.status_code == 201, endpoint.text
        await a.put(base, json={"invoice_export_enabled": True})
        connected = await b.put(f"{base}/connection", json={"token": "sandbox-token-ee"})
        assert connected.status_code == 201, connected.text

        imports = await both(apis, "POST", f"{base}/imports", json={"feed": "articles"})
        assert len({response.json()["id"] for response in imports}) == 1
        for job in (connected.json()["import_job"]["id"], imports[0].json()["id"]):
            await until(a, f"/v1/jobs/{job}", lambda body: body["status"] == "succeeded")

        for n, code in enumerate(codes):
            linked = await apis[n % 2].put(
                f"/v1/companies/{COMPANY}/clients/c-{n}/directo/link", json={"customer_code": code}
            )
            assert linked.status_code == 201, linked.text
        await b.put(
            f"{base}/summary-settings",
            json={
                "task_title": "Kokkuvõte",
                "import_day": {"rule": "last_work_day"},
                "field_mapping": {"sales_invoices": "u-1", "documents": "u-2"},
            },
        )
        reloads = await both(apis, "POST", f"{base}/reloads", json={"months": 3})
        assert len({response.json()["id"] for response in reloads}) == 1
        assert sorted(response.status_code for response in reloads) == [200] * 5 + [202]
        reload = await until(
            b,
            f"/v1/reloads/{reloads[0].json()['id']}",
            lambda body: body["status"] != "queued" and body["status"] != "running",
        )
        assert reload["status"] == "succeeded", reload

        sandbox.clear_requests()
        exported = await both(
            apis,
            "POST",
            f"{base}/invoices",
            json={**SEED_INVOICE, "customer_code": codes[0]},
            headers={"Idempotency-Key": "scale-export-1"},
        )
        assert {response.status_code for response in exported} <= {200, 202}
        assert len({response.json()["id"] for response in exported}) == 1
        export_url = f"{base}/invoices/{exported[0].json()['id']}"
        sent = await until(a, export_url, lambda body: body["status"] in {"sent", "failed"})
        assert sent["status"] == "sent", sent
        puts = [
            entry for entry in sandbox.requests if entry.op == "put" and entry.what == "invoice"
        ]
        assert len(puts) == 1, puts
        number = str(sent["directo_number"])
        assert sandbox.database("demo_ee").invoice(number) is not None

        sandbox.add_receipt("demo_ee", invoice=number)
        async with db.sessionmaker() as session, session.begin():
            later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
            polls = await start_due_polls(session, now=later, interval=dt.timedelta(minutes=15))
        for job in polls:
            await db.queue.enqueue(JobName(job.kind), job.id)
        paid = await until(b, export_url, lambda body: body["payment"]["status"] == "paid")
        assert paid["payment"]["status"] == "paid"

        async with asyncio.timeout(60):
            while True:
                async with db.sessionmaker() as session:
                    events = list(
                        (
                            await session.execute(select(Event).where(Event.company_id == COMPANY))
                        ).scalars()
                    )
                delivered = Counter(request.headers["webhook-id"] for request in receiver.requests)
                if set(delivered) >= {str(event.id) for event in events}:
                    break
                await asyncio.sleep(0.5)
        assert max(delivered.values()) == 1, delivered
        kinds = Counter(event.type for event in events)
        assert kinds["reload.completed"] == 1
        assert kinds["invoice.exported"] == 1
        assert kinds["invoice.paid"] == 1

    async with db.sessionmaker() as session:
        jobs = list((await session.execute(select(Job).where(Job.company_id == COMPANY))).scalars())
    by_kind = Counter(job.kind for job in jobs)
    assert by_kind[JobName.ARTICLES_IMPORT.value] == 1
    assert by_kind[JobName.STATISTICS_RELOAD.value] == 1
