"""`directo-gateway demo` end to end: the real API under uvicorn on loopback, a real
worker process, the sandbox over HTTP — and the demo reaches "invoice paid"."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from app.demo import DemoFailed, DemoOptions, run_demo
from app.directo.sandbox import SandboxState
from app.payments.poll import start_due_polls
from app.queue.names import JobName
from app.resources import Resources
from tests.conftest import API_KEY
from tests.support.console import LiveGateway
from tests.support.waiting import wait_until
from tests.support.workers import start_worker, worker_polling


@contextlib.asynccontextmanager
async def payment_polls_every_moment(db: Resources) -> AsyncIterator[None]:
    """Start due paid-status polls continually, as the worker's minute cron would after
    its interval: the demo waits for `invoice.paid` without waiting for the clock."""

    async def tick() -> None:
        while True:
            async with db.sessionmaker() as session, session.begin():
                later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
                jobs = await start_due_polls(session, now=later, interval=dt.timedelta(minutes=1))
            for job in jobs:
                await db.queue.enqueue(JobName(job.kind), job.id)
            await asyncio.sleep(0.3)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.slow
async def test_the_demo_reaches_invoice_paid(
    db: Resources, sandbox: SandboxState, sandbox_server: tuple[SandboxState, str]
) -> None:
    worker = await start_worker(db)
    try:
        await wait_until(lambda: worker_polling(db), what="the worker starts", within=60)
        async with LiveGateway(db.settings) as gateway, payment_polls_every_moment(db):
            said: list[str] = []
            options = DemoOptions(
                api_url=gateway.url,
                api_key=API_KEY,
                sandbox_url=sandbox_server[1],
                step_timeout=90,
                paid_timeout=90,
                poll_seconds=0.2,
            )
            event = await run_demo(options, said.append)
    finally:
        worker.terminate()
        await worker.wait()

    assert event["type"] == "invoice.paid"
    assert event["data"]["payment_status"] == "paid"
    assert said[-1].startswith("\ninvoice paid: DEMO-")
    steps = [line.split(":")[0] for line in said if line.startswith("\n== ")]
    assert steps == [
        f"\n== {step}"
        for step in (
            "gateway",
            "enable",
            "webhooks",
            "connect",
            "articles",
            "link",
            "summary settings",
            "reload",
            "export",
            "pay",
            "paid",
        )
    ]
    text = "\n".join(said)
    for page in ("/ops", "/ops/jobs", "/ops/reloads", "/ops/exports", "/ops/webhooks"):
        assert f"console: {gateway.url}{page}\n" in text + "\n"
    assert "whsec_" not in text.replace("whsec_…", "")  # the secret is never printed


async def test_the_demo_names_the_step_that_fails(db: Resources) -> None:
    options = DemoOptions(api_url="http://127.0.0.1:9", step_timeout=2)
    with pytest.raises(DemoFailed) as failure:
        await run_demo(options, [].append)
    assert failure.value.step == "gateway"
    assert "nothing answers at http://127.0.0.1:9: start it with ./scripts/dev" in str(
        failure.value
    )
