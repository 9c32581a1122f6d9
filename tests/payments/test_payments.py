"""Paid status read back from Directo: a confirmed receipt in the sandbox makes the export
`paid` within one poll and sends `invoice.paid` once; an unconfirmed one does not; part
payments and the poll's schedule — through a real worker against the sandbox."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.db.models import Job, JobStatus, SyncWatermark
from app.directo.sandbox import SandboxState
from app.payments import poll as poll_module
from app.payments.jobs import payments_tick
from app.payments.poll import INVOICE_FEED, start_due_polls
from app.payments.status import overpaid_amount, payment_status
from app.queue.names import JobName
from app.resources import Resources
from tests.support.exports_helpers import (
    DATABASE,
    INVOICES,
    events,
    export_and_send,
    get_export,
    invoice,
    ready,
)
from tests.support.helpers import run_worker_burst

NUMBER = "20260042"


async def poll(db: Resources, *, now: dt.datetime | None = None) -> int:
    """One poll round, as the worker's tick starts it, run by a real worker."""
    async with db.sessionmaker() as session, session.begin():
        jobs = await start_due_polls(
            session, now=now or dt.datetime.now(dt.UTC), interval=dt.timedelta(minutes=15)
        )
    for job in jobs:
        await db.queue.enqueue(JobName.PAYMENT_POLL, job.id)
    await run_worker_burst(db.settings)
    return len(jobs)


def later(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


async def sent_export(client: AsyncClient, db: Resources, sandbox: SandboxState) -> dict[str, Any]:
    """A sent export whose connection has just been polled (nothing paid yet), so the
    test's polls are due only when its clock says so: the worker's minute tick
    (`payments_tick`, run by any burst that spans second 40) may already have polled it."""
    await ready(client, db, sandbox)
    exported = await export_and_send(client, db, invoice())
    assert exported["status"] == "sent"
    await poll(db)
    # A connection with a freshly sent export is polled at once (by the tick or just now).
    async with db.sessionmaker() as session:
        polled = await session.scalar(
            select(Job.status).where(Job.kind == JobName.PAYMENT_POLL.value)
        )
    assert polled == JobStatus.SUCCEEDED
    assert (await get_export(client, exported["id"]))["payment"]["status"] == "unpaid"
    return exported


@pytest.mark.slow
async def test_a_confirmed_receipt_makes_the_export_paid_within_one_poll_and_notifies_once(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    exported = await sent_export(client, db, sandbox)
    assert await poll(db, now=later(16)) == 1
    unpaid = await get_export(client, exported["id"])
    assert unpaid["payment"] | {"checked_at": None, "changed_at": None} == {
        "status": "unpaid",
        "total": "409.20",  # 330.00 + 24 % VAT, as Directo computed it
        "balance": "409.20",
        "paid_amount": "0.00",
        "overpaid_amount": "0.00",
        "paid_on": None,
        "checked_at": None,
        "changed_at": None,
    }
    assert await events(client, "invoice.paid", "invoice.payment_status_changed") == []

    sandbox.add_receipt(DATABASE, invoice=NUMBER, confirmed=True, day="2026-03-10")
    assert await poll(db, now=later(16)) == 1
    paid = await get_export(client, exported["id"])
    assert (paid["payment"]["status"], paid["payment"]["balance"]) == ("paid", "0.00")
    assert (paid["payment"]["paid_amount"], paid["payment"]["paid_on"]) == ("409.20", "2026-03-10")
    (notified,) = await events(client, "invoice.paid")
    assert notified["data"] == {
        "export_id": exported["id"],
        "client_id": "client-1",
        "invoice_number": "INV-2026-0042",
        "directo_number": 20260042,
        "customer_code": "K000001",
        "currency": "EUR",
        "payment_status": "paid",
        "previous_payment_status": "unpaid",
        "total": "409.20",
        "balance": "0.00",
        "paid_amount": "409.20",
        "overpaid_amount": "0.00",
        "paid_on": "2026-03-10",
    }
    (changed,) = await events(client, "invoice.payment_status_changed")
    assert (changed["data"]["previous_payment_status"], changed["data"]["payment_status"]) == (
        "unpaid",
        "paid",
    )
    # Nothing is left to poll for; even a forced poll announces nothing twice.
    assert await poll(db, now=later(60)) == 0
    paid_list = (await client.get(INVOICES, params={"paid_since": "2026-03-10"})).json()["items"]
    assert [item["id"] for item in paid_list] == [exported["id"]]
    assert (await client.get(INVOICES, params={"paid_since": "2026-03-11"})).json()["items"] == []
    assert len(await events(client, "invoice.paid")) == 1


@pytest.mark.slow
async def test_an_unconfirmed_receipt_settles_nothing_until_confirmed(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    exported = await sent_export(client, db, sandbox)
    receipt, _ = sandbox.add_receipt(DATABASE, invoice=NUMBER, confirmed=False)
    assert await poll(db, now=later(16)) == 1
    unpaid = await get_export(client, exported["id"])
    assert (unpaid["payment"]["status"], unpaid["payment"]["balance"]) == ("unpaid", "409.20")
    assert await events(client, "invoice.paid", "invoice.payment_status_changed") == []

    sandbox.database(DATABASE).confirm_receipt(receipt["number"])
    assert await poll(db, now=later(16)) == 1
    paid = await get_export(client, exported["id"])
    assert paid["payment"]["status"] == "paid"
    assert len(await events(client, "invoice.paid")) == 1


@pytest.mark.slow
async def test_part_payments_move_through_partially_paid_to_paid(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    exported = await sent_export(client, db, sandbox)
    sandbox.add_receipt(DATABASE, invoice=NUMBER, amount="100.00", day="2026-03-05")
    assert await poll(db, now=later(16)) == 1
    part = await get_export(client, exported["id"])
    assert part["payment"] | {"checked_at": None, "changed_at": None} == {
        "status": "partially_paid",
        "total": "409.20",
        "balance": "309.20",
        "paid_amount": "100.00",
        "overpaid_amount": "0.00",
        "paid_on": None,
        "checked_at": None,
        "changed_at": None,
    }
    assert await poll(db, now=later(5)) == 0  # not due before the interval
    sandbox.add_receipt(DATABASE, invoice=NUMBER, amount="309.20", day="2026-03-20")
    assert await poll(db, now=later(16)) == 1
    paid = await get_export(client, exported["id"])
    assert (paid["payment"]["status"], paid["payment"]["paid_on"]) == ("paid", "2026-03-20")
    changes = await events(client, "invoice.payment_status_changed")
    assert [
        (e["data"]["previous_payment_status"], e["data"]["payment_status"]) for e in changes
    ] == [
        ("unpaid", "partially_paid"),
        ("partially_paid", "paid"),
    ]
    assert len(await events(client, "invoice.paid")) == 1
    listed = (await client.get(INVOICES, params={"payment_status": "paid"})).json()["items"]
    assert [item["id"] for item in listed] == [exported["id"]]


@pytest.mark.slow
async def test_polls_read_changes_by_ts_only_for_connections_with_unpaid_exports(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    assert await poll(db) == 0  # connected, but nothing exported yet
    await export_and_send(client, db, invoice())
    sandbox.clear_requests()
    # The worker's minute tick starts the poll (never polled: due at once) and queues it.
    assert await payments_tick({"resources": db}) == {"payment_polls": 1}
    assert await payments_tick({"resources": db}) == {"payment_polls": 0}
    await run_worker_burst(db.settings)
    async with db.sessionmaker() as session:
        job = (await session.execute(select(Job).where(Job.kind == "payment_poll"))).scalar_one()
    reads = [entry for entry in sandbox.requests if entry.op == "get"]
    # The invoice feed brought the new invoice: no look-up by number was needed.
    assert sorted(entry.what for entry in reads) == ["invoice", "receipt"]
    assert all(entry.params.get("ts") for entry in reads)  # changes only, never whole feeds
    finished = (await client.get(f"/v1/jobs/{job.id}")).json()
    assert finished["status"] == "succeeded", finished
    assert finished["counts"]["looked_up"] == 0
    assert 1 <= finished["counts"]["invoices_read"] < 100  # of 720 seeded invoices
    assert finished["counts"]["updated"] == 1
    async with db.sessionmaker() as session:
        mark = await session.get(SyncWatermark, (job.connection_id, INVOICE_FEED))
    assert mark is not None
    assert mark.watermark_ts is not None
    assert mark.last_run_at is not None


@pytest.mark.slow
async def test_an_overpaid_invoice_is_paid_with_the_surplus_shown(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    exported = await sent_export(client, db, sandbox)
    sandbox.add_receipt(DATABASE, invoice=NUMBER, amount="500.00", day="2026-03-12")
    assert await poll(db, now=later(16)) == 1
    paid = await get_export(client, exported["id"])
    assert paid["payment"] | {"checked_at": None, "changed_at": None} == {
        "status": "paid",
        "total": "409.20",
        "balance": "-90.80",  # Directo's balance: total less confirmed receipts
        "paid_amount": "500.00",
        "overpaid_amount": "90.80",
        "paid_on": "2026-03-12",
        "checked_at": None,
        "changed_at": None,
    }
    (notified,) = await events(client, "invoice.paid")
    assert {key: notified["data"][key] for key in ("payment_status", "overpaid_amount")} == {
        "payment_status": "paid",
        "overpaid_amount": "90.80",
    }
    assert await poll(db, now=later(60)) == 0  # paid: nothing left to poll for


@pytest.mark.slow
async def test_paid_on_without_a_receipt_date_is_the_day_in_tallinn(
    client: AsyncClient, db: Resources, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read as paid at 22:30 UTC on 10 March, when it is already 11 March in Tallinn, with
    no dated confirmed receipt to say when it was paid."""
    exported = await sent_export(client, db, sandbox)
    late_evening = dt.datetime(2026, 3, 10, 22, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(poll_module, "_now", lambda: late_evening)
    # A confirmed receipt that carries no date on its header or its row.
    sandbox.database(DATABASE).add_receipt(
        {"paymentmode": "PANK", "confirmed": "1"},
        [{"invoice": NUMBER, "customer": "K000001", "received": "409.20"}],
    )
    assert await poll(db, now=later(16)) == 1
    paid = await get_export(client, exported["id"])
    assert (paid["payment"]["status"], paid["payment"]["paid_on"]) == ("paid", "2026-03-11")
    (notified,) = await events(client, "invoice.paid")
    assert notified["data"]["paid_on"] == "2026-03-11"


def test_payment_status_rule() -> None:
    assert payment_status(total=Decimal("100"), balance=Decimal("0")) == "paid"
    assert payment_status(total=Decimal("100"), balance=Decimal("100.00")) == "unpaid"
    assert payment_status(total=Decimal("100"), balance=Decimal("0.01")) == "partially_paid"
    assert payment_status(total=Decimal("100"), balance=Decimal("-0.01")) == "paid"  # overpaid
    assert payment_status(total=Decimal("100"), balance=Decimal("100.01")) == "partially_paid"
    # Credit invoices keep their rules: a negative balance is their nature, not a surplus.
    assert payment_status(total=Decimal("-50"), balance=Decimal("-50")) == "unpaid"
    assert payment_status(total=Decimal("-50"), balance=Decimal("-20")) == "partially_paid"
    assert payment_status(total=Decimal("-50"), balance=Decimal("-60")) == "partially_paid"
    assert payment_status(total=Decimal("-50"), balance=Decimal("0")) == "paid"
    assert overpaid_amount(total=Decimal("100"), balance=Decimal("-12.5")) == Decimal("12.50")
    assert overpaid_amount(total=Decimal("100"), balance=Decimal("1")) == Decimal("0")
    assert overpaid_amount(total=Decimal("-50"), balance=Decimal("-60")) == Decimal("0")
