"""Crash safety of invoice export: worker processes SIGKILLed while a batch is being sent.

Directo is slowed down, a batch of invoices is exported through the API, and real
`directo-gateway worker` processes are started and SIGKILLed at seeded random points after
they begin talking to Directo about the invoices. A kill can land before a put, while a
put is in flight (Directo stores the invoice after the worker is gone, so the gateway never
learns the outcome), during a look-up, or once some answers are in. After each kill the
test does what the next worker's crons would do, without their waits: the watchdog (the
dead runs' heartbeats are stale by then) and the export recovery sweep. A live worker then
finishes the batch.

Every export must end `sent`, with exactly one Directo invoice that equals what a clean put
of its XML creates, and exactly one `invoice.exported`; every event must have reached the
webhook endpoint under its own `webhook-id`. The reload half is `tests/worker/test_crash.py`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import signal
from collections import Counter, defaultdict
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, update

from app.db.models import (
    DeliveryStatus,
    Event,
    ExportStatus,
    InvoiceExport,
    Job,
    JobStatus,
    PaymentStatus,
    WebhookDelivery,
)
from app.directo.sandbox import Faults, SandboxDatabase, SandboxState
from app.directo.sandbox.puts import apply_put
from app.exports.recovery import recover_stuck_exports
from app.queue.names import JobName
from app.resources import Resources
from app.webhooks.delivery import deliver_due
from app.worker import crons as worker_module
from app.worker.crons import watchdog
from tests.support.exports_helpers import COMPANY, DATABASE, INVOICES, invoice, key, ready
from tests.support.receiver import running_receiver
from tests.support.waiting import wait_until
from tests.support.workers import no_live_runs, start_worker

EXPORTS = 12  # more than a worker runs at once (10): the last ones start mid-way
LATENCY = 1.0  # seconds Directo takes over each request while the kills run
# Where each kill lands, in units of LATENCY after Directo's first request about an export
# in that worker's life: at once (the worker's other runs are still claiming, marking
# `sending` or putting), while the requests are in flight (Directo applies the puts after
# the kill), or once their answers are in (those exports settle; the next are on their
# way). Mostly in flight, so that the batch outlasts the kills.
AT_ONCE, IN_FLIGHT, ANSWERED = (0.0, 0.0), (0.0, 0.75), (1.3, 1.8)
SCHEDULE = (AT_ONCE, IN_FLIGHT, ANSWERED, IN_FLIGHT, IN_FLIGHT, IN_FLIGHT)
KILLS = len(SCHEDULE)
# Customers of the seeded data with an open card and an e-mail or reg. no.
CUSTOMERS = ("K000001", "K000002", "K000003", "K000008")


def bodies() -> list[dict[str, Any]]:
    """Distinct invoices: their own number, customer and totals."""
    made = []
    for n in range(EXPORTS):
        body = invoice(
            number=f"INV-2026-{101 + n:04d}",
            customer_code=CUSTOMERS[n % len(CUSTOMERS)],
            comment=f"Crash test {n}",
        )
        body["rows"][1]["quantity"] = f"{n + 1}.5"
        made.append(body)
    return made


def export_requests(sandbox: SandboxState) -> int:
    """How many requests Directo got about exported invoices: puts, look-ups by number."""
    return sum(
        1
        for entry in sandbox.requests
        if entry.what == "invoice"
        and (entry.op == "put" or (entry.op == "get" and "number" in entry.params))
    )


async def export_traffic_after(sandbox: SandboxState, seen: int) -> bool:
    """Wait (bounded) for a request about an export beyond the first `seen`."""
    try:
        async with asyncio.timeout(10):
            while export_requests(sandbox) == seen:
                await asyncio.sleep(0.02)
    except TimeoutError:
        return False
    return True


async def cut_runs(db: Resources, sandbox: SandboxState) -> Counter[str]:
    """Where the dead worker left the exports it was sending (its runs are still `running`;
    call it once puts in flight have had time to land)."""
    directo = sandbox.database(DATABASE)
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(InvoiceExport.status, InvoiceExport.directo_number)
            .join(Job, Job.id == InvoiceExport.job_id)
            .where(Job.status == JobStatus.RUNNING)
        )
    where: Counter[str] = Counter()
    for status, number in rows:
        if status is ExportStatus.QUEUED:
            where["before the put"] += 1
        elif directo.invoice(str(number)) is None:
            where["sending, not in Directo"] += 1
        else:
            where["in Directo, outcome not recorded"] += 1
    return where


async def free_leases(db: Resources) -> None:
    """End the leases on webhook deliveries: only while no worker is alive, when every
    holder is gone (killed, or stopped in the middle of a delivery); a lease would
    otherwise expire after a minute."""
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.locked_until.is_not(None))
            .values(locked_until=None, lease_token=None)
        )


async def after_a_kill(db: Resources) -> int:
    """What the next workers' crons do once a worker died, without their waits. Returns
    how many exports the recovery sweep restarted.

    No worker is alive here, so nothing can be taken from a live run: the watchdog queues
    every unfinished job again at once (in production a `queued` job waits a minute, in
    case a live worker took it and is about to claim it), the sweep restarts stuck exports
    as if its quiet period had passed, and the dead worker's delivery leases end.
    """
    await free_leases(db)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker_module, "_STRANDED_AFTER", dt.timedelta(0))
        await watchdog({"resources": db})
    async with db.sessionmaker() as session, session.begin():
        now = dt.datetime.now(dt.UTC)
        recovered = await recover_stuck_exports(session, now=now, idle=dt.timedelta(0))
    for job in recovered:
        await db.queue.enqueue(JobName.INVOICE_EXPORT, job.id)
    return len(recovered)


async def all_settled(db: Resources) -> bool:
    return await unsettled(db) == 0


async def unsettled(db: Resources) -> int:
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(InvoiceExport)
            .where(InvoiceExport.status.in_([ExportStatus.QUEUED, ExportStatus.SENDING]))
        )
    return count or 0


def without_ts(stored: Any) -> tuple[dict[str, str], Any]:
    assert stored is not None
    attrs, children = stored
    return {name: value for name, value in attrs.items() if name != "ts"}, children


def clean_put(sandbox: SandboxState, xml: str, number: int) -> tuple[dict[str, str], Any]:
    """The invoice one clean put of `xml` creates in a fresh copy of the database."""
    fresh = SandboxDatabase(sandbox.database(DATABASE).spec, clock=dt.datetime.now)
    assert [result["Type"] for result in apply_put(fresh, "invoice", xml)] == ["30"]
    return without_ts(fresh.invoice(str(number)))


@pytest.mark.slow
async def test_exports_survive_repeated_sigkills_with_one_directo_invoice_each(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    async with db.sessionmaker() as session:
        before = await session.scalar(select(func.max(Event.sequence))) or 0
    async with running_receiver() as receiver:
        endpoint = await client.post(
            f"/v1/companies/{COMPANY}/webhook-endpoints", json={"url": receiver.url("/hooks")}
        )
        assert endpoint.status_code == 201, endpoint.text
        directo = sandbox.database(DATABASE)
        directo.set_faults(Faults(latency_ms=int(LATENCY * 1000)))
        for body in bodies():
            response = await client.post(INVOICES, json=body, headers=key())
            assert response.status_code == 202, response.text

        chance = random.Random(9)
        kills_mid_export = 0
        cut: Counter[str] = Counter()
        recovered = 0
        for low, high in SCHEDULE:
            seen = export_requests(sandbox)
            worker = await start_worker(db)
            if await export_traffic_after(sandbox, seen):
                await asyncio.sleep(chance.uniform(low, high) * LATENCY)  # the kill's moment
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
            # The dead runs' heartbeats go stale (4 beats, at least 3 after the kill: longer
            # than LATENCY), so puts in flight have reached Directo by then.
            await wait_until(lambda: no_live_runs(db), what="the dead runs' heartbeats to go stale")
            where = await cut_runs(db, sandbox)
            kills_mid_export += where.total() > 0
            cut += where
            recovered += await after_a_kill(db)
        stats = f"{kills_mid_export}/{KILLS} kills mid-export, runs cut: {dict(cut)}"
        assert kills_mid_export >= KILLS // 2, f"the exports finished before the kills: {stats}"
        assert cut["in Directo, outcome not recorded"] >= 1, stats
        assert recovered == 0, "a kill should leave the job to the watchdog, not fail it"

        directo.set_faults(Faults())
        survivor = await start_worker(db)  # live, not burst: see tests/worker/test_crash.py
        try:
            await wait_until(
                lambda: all_settled(db), what="every export to settle", within=30, interval=0.3
            )
        finally:
            survivor.send_signal(signal.SIGTERM)
            await survivor.wait()

        async with db.sessionmaker() as session:
            exports = list((await session.execute(select(InvoiceExport))).scalars())
        assert len(exports) == EXPORTS
        # As a clean run leaves them, except what records how the export was settled:
        # `attempts` counts puts (2 when one was cut before it reached Directo), and an
        # export settled by a look-up has no put answer (no `xml_received`); its docid is
        # the number it was found under, as a put's answer would have given.
        for export in exports:
            outcome = (export.status, export.confirmed, export.error_code, export.errors)
            assert outcome == (ExportStatus.SENT, False, None, []), export.errors
            assert export.directo_docid == str(export.directo_number)
            assert export.payment_status is PaymentStatus.UNPAID
        # Directo holds one invoice per export, each what a clean put of its XML creates,
        # and no put was answered "duplicate" (none was sent again after it had landed).
        numbers = sorted(export.directo_number for export in exports)
        assert sorted(int(number) for number in directo.invoices) == numbers
        put_outcomes = [e.outcome for e in sandbox.requests if e.op == "put"]
        assert put_outcomes == ["put: 30"] * EXPORTS, stats
        for export in exports:
            assert export.xml_sent is not None
            held = without_ts(directo.invoice(str(export.directo_number)))
            assert held == clean_put(sandbox, export.xml_sent, export.directo_number)
            assert held[0]["customercode"] == export.customer_code
            assert held[0]["netamount"] == f"{export.net_total:.2f}"

        await free_leases(db)  # SIGTERM cancels a delivery the survivor had under way
        while await deliver_due(db):
            pass
        async with db.sessionmaker() as session:
            events = list(
                (await session.execute(select(Event).where(Event.sequence > before))).scalars()
            )
            delivered = await session.execute(
                select(WebhookDelivery.event_id, WebhookDelivery.status).where(
                    WebhookDelivery.endpoint_id.is_not(None)
                )
            )
            deliveries = [(event_id, status) for event_id, status in delivered]
        exported = {
            event.payload["export_id"]: event.payload
            for event in events
            if event.type == "invoice.exported"
        }
        assert [event.type for event in events] == ["invoice.exported"] * EXPORTS
        assert exported.keys() == {str(export.id) for export in exports}
        for export in exports:
            payload = exported[str(export.id)]
            assert (payload["directo_number"], payload["status"]) == (export.directo_number, "sent")
        # One delivery per event to the endpoint, delivered; the receiver saw each event
        # under its own webhook-id (a delivery cut by a kill may repeat, with the same body).
        assert sorted(deliveries) == sorted(
            (event.id, DeliveryStatus.SUCCEEDED) for event in events
        )
        received: dict[str, set[str]] = defaultdict(set)
        for request in receiver.requests:
            received[request.headers["webhook-id"]].add(
                json.dumps(json.loads(request.body), sort_keys=True)
            )
        assert received.keys() == {str(event.id) for event in events}
        assert all(len(versions) == 1 for versions in received.values()), received
