"""Exactly once: concurrent retries with one key, a put whose answer is lost, and a job that
dies between the put and recording it — each ends with one Directo invoice and the export
`sent`, through the API and a real worker against the sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.db.models import InvoiceExport, Job
from app.directo.sandbox import Faults, SandboxState
from app.exports import settling
from app.exports.recovery import recover_stuck_exports
from app.queue.names import JobName
from app.resources import Resources
from tests.support.exports_helpers import (
    DATABASE,
    INVOICES,
    directo_invoice,
    events,
    export,
    get_export,
    invoice,
    key,
    puts,
    ready,
)
from tests.support.helpers import run_worker_burst


def lookups(sandbox: SandboxState, number: int) -> list[Any]:
    return [
        entry
        for entry in sandbox.requests
        if entry.op == "get"
        and entry.what == "invoice"
        and entry.params.get("number") == str(number)
    ]


async def assert_one_directo_invoice_and_sent(
    client: AsyncClient, sandbox: SandboxState, export_id: str
) -> dict[str, Any]:
    assert len(sandbox.database(DATABASE).invoices) == 1
    stored = directo_invoice(sandbox, 20260042)
    assert stored is not None
    assert stored["customercode"] == "K000001"
    exported = await get_export(client, export_id)
    assert exported["status"] == "sent", exported
    (event,) = await events(client, "invoice.exported")
    assert event["data"]["export_id"] == export_id
    assert await events(client, "invoice.export_failed") == []
    return exported


@pytest.mark.slow
async def test_fifty_concurrent_retries_with_one_key_create_one_directo_invoice(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    headers = key()
    responses = await asyncio.gather(
        *(client.post(INVOICES, json=invoice(), headers=headers) for _ in range(50))
    )
    assert {response.status_code for response in responses} == {202}, [
        response.text for response in responses if response.status_code != 202
    ]
    ids = {response.json()["id"] for response in responses}
    assert len(ids) == 1
    replayed = [response for response in responses if "idempotent-replayed" in response.headers]
    assert len(replayed) == 49
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(InvoiceExport)) == 1
        kinds = (await session.execute(select(Job.kind))).scalars().all()
    assert kinds.count(JobName.INVOICE_EXPORT.value) == 1
    await run_worker_burst(db.settings)
    # And a late retry after the send: still the same export, nothing sent again.
    late = await client.post(INVOICES, json=invoice(), headers=headers)
    assert (late.status_code, late.json()["id"], late.json()["status"]) == (202, ids.pop(), "sent")
    await run_worker_burst(db.settings)
    assert len(puts(sandbox)) == 1
    await assert_one_directo_invoice_and_sent(client, sandbox, late.json()["id"])


@pytest.mark.slow
async def test_a_put_whose_answer_is_lost_is_looked_up_not_sent_again(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    # Directo stores the invoice, then the connection drops before its answer arrives.
    sandbox.database(DATABASE).set_faults(Faults(drop_puts=1))
    response = await export(client, invoice())
    await run_worker_burst(db.settings)  # the retry runs in the same burst
    assert len(puts(sandbox)) == 1
    assert len(lookups(sandbox, 20260042)) == 1
    exported = await assert_one_directo_invoice_and_sent(client, sandbox, response.json()["id"])
    assert (exported["attempts"], exported["xml_received"]) == (1, None)
    assert exported["directo_docid"] == "20260042"  # the invoice found is the document
    job = (await client.get(f"/v1/jobs/{exported['job_id']}")).json()
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert [error["code"] for error in job["errors"]] == ["outcome_unknown"]
    assert job["result"] == {"export_id": exported["id"], "outcome": "found_in_directo"}


@pytest.mark.slow
async def test_a_job_that_dies_after_the_put_is_recovered_by_a_lookup(
    client: AsyncClient, db: Resources, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(client, db, sandbox)
    record = settling.sent

    async def die_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(settling, "sent", record)
        raise RuntimeError("the worker died before recording the put")

    monkeypatch.setattr(settling, "sent", die_once)
    response = await export(client, invoice())
    await run_worker_burst(db.settings)
    assert len(puts(sandbox)) == 1  # Directo has the invoice ...
    stuck = await get_export(client, response.json()["id"])
    assert stuck["status"] == "sending"  # ... the gateway does not know it yet
    assert [error["code"] for error in stuck["errors"]] == ["internal_error"]
    job = (await client.get(f"/v1/jobs/{stuck['job_id']}")).json()
    assert job["status"] == "failed"
    assert await events(client, "invoice.exported", "invoice.export_failed") == []

    async with db.sessionmaker() as session, session.begin():
        not_yet = await recover_stuck_exports(session, now=dt.datetime.now(dt.UTC))
    assert not_yet == []  # the sweep lets a failed send rest first
    async with db.sessionmaker() as session, session.begin():
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        jobs = await recover_stuck_exports(session, now=later)
    assert len(jobs) == 1
    await db.queue.enqueue(JobName.INVOICE_EXPORT, jobs[0].id)
    await run_worker_burst(db.settings)
    assert len(puts(sandbox)) == 1  # looked up, not sent again
    assert len(lookups(sandbox, 20260042)) == 1
    exported = await assert_one_directo_invoice_and_sent(client, sandbox, response.json()["id"])
    assert exported["job_id"] == str(jobs[0].id)


@pytest.mark.slow
async def test_a_job_cancelled_after_the_put_runs_again_and_finds_the_invoice(
    client: AsyncClient, db: Resources, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(client, db, sandbox)
    record = settling.sent

    async def cancelled_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(settling, "sent", record)
        raise asyncio.CancelledError  # a worker shut down (or timed out) mid-job

    monkeypatch.setattr(settling, "sent", cancelled_once)
    response = await export(client, invoice())
    await run_worker_burst(db.settings)  # arq runs a cancelled job again
    assert len(puts(sandbox)) == 1
    exported = await assert_one_directo_invoice_and_sent(client, sandbox, response.json()["id"])
    job = (await client.get(f"/v1/jobs/{exported['job_id']}")).json()
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert [error["code"] for error in job["errors"]] == ["interrupted"]
