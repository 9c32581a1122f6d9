"""A Directo number stays claimed while Directo may hold the invoice, and never stays claimed
by nothing: an export whose put is in doubt keeps it through a refused look-up; a claim
moves between the live exports of one Uku invoice and is released with the last of them.
Through the API and a real worker against the sandbox."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update

from app.db.models import ExportStatus, InvoiceExport
from app.db.models.exports import InvoiceNumberClaim
from app.directo.sandbox import SandboxState, TokenSpec
from app.exports import service, settling
from app.exports.recovery import recover_stuck_exports
from app.exports.schemas import InvoiceIn
from app.queue.names import JobName
from app.resources import Resources
from tests.support.exports_helpers import (
    BASE,
    COMPANY,
    DATABASE,
    INVOICES,
    directo_invoice,
    events,
    export,
    export_and_send,
    get_export,
    invoice,
    key,
    ready,
)
from tests.support.helpers import run_worker_burst

NUMBER = 20260042


async def claims(db: Resources) -> list[tuple[int, str, uuid.UUID]]:
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(
                InvoiceNumberClaim.directo_number,
                InvoiceNumberClaim.uku_invoice_number,
                InvoiceNumberClaim.export_id,
            )
        )
        return [(number, uku, export_id) for number, uku, export_id in rows]


async def recover(db: Resources) -> None:
    """What the worker's tick does for a stuck export, without its wait."""
    async with db.sessionmaker() as session, session.begin():
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        jobs = await recover_stuck_exports(session, now=later)
    assert len(jobs) == 1
    await db.queue.enqueue(JobName.INVOICE_EXPORT, jobs[0].id)
    await run_worker_burst(db.settings)


def vat_refused(**overrides: Any) -> dict[str, Any]:
    """An invoice Directo refuses (a VAT code it does not know): it stores nothing."""
    body = invoice(**overrides)
    body["rows"][1]["vat_code"] = {"id": "vat-77", "external_code": "77"}
    return body


@pytest.mark.slow
async def test_a_token_refused_while_a_put_is_in_doubt_keeps_the_export_and_its_number(
    client: AsyncClient, db: Resources, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(client, db, sandbox)
    record = settling.sent

    async def die_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(settling, "sent", record)
        raise RuntimeError("the worker died before recording the put")

    monkeypatch.setattr(settling, "sent", die_once)
    response = await export(client, invoice())
    export_id = response.json()["id"]
    await run_worker_burst(db.settings)
    assert directo_invoice(sandbox, NUMBER) is not None  # Directo has it; the gateway not yet
    assert (await get_export(client, export_id))["status"] == "sending"

    sandbox.revoke_token("sandbox-token-ee")
    await recover(db)  # the look-up is refused: it decides nothing
    stuck = await get_export(client, export_id)
    assert (stuck["status"], stuck["error_code"]) == ("sending", None), stuck
    assert [error["code"] for error in stuck["errors"]] == ["internal_error", "unauthorized"]
    job = (await client.get(f"/v1/jobs/{stuck['job_id']}")).json()
    assert (job["status"], [e["code"] for e in job["errors"]]) == ("failed", ["unauthorized"])
    connection = (await client.get(f"{BASE}/connection")).json()
    assert (connection["health"], connection["last_error_code"]) == (
        "needs_attention",
        "unauthorized",
    )
    assert len(await events(client, "connection.failed")) == 1
    assert await events(client, "invoice.export_failed") == []
    assert [(n, uku) for n, uku, _ in await claims(db)] == [(NUMBER, "INV-2026-0042")]
    # Meanwhile no other Uku invoice can take the number Directo holds for this one.
    taken = await client.post(INVOICES, json=invoice(number="B-2026-0042"), headers=key())
    assert (taken.status_code, taken.json()["code"]) == (422, "invoice_number_taken")

    sandbox.add_token(TokenSpec("sandbox-token-ee", DATABASE))  # a working key again
    await recover(db)
    exported = await get_export(client, export_id)
    assert (exported["status"], exported["directo_docid"]) == ("sent", str(NUMBER))
    assert len(sandbox.database(DATABASE).invoices) == 1  # and never put again
    assert [e["data"]["export_id"] for e in await events(client, "invoice.exported")] == [export_id]
    assert (await client.get(f"{BASE}/connection")).json()["health"] == "ok"


@pytest.mark.slow
async def test_the_claim_moves_between_exports_of_one_invoice_and_goes_with_the_last(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """Exports A and B of one Uku invoice (two keys): the claim points at B, the newer. B
    fails while A is queued, then A fails: the number must be free again."""
    await ready(client, db, sandbox)
    body = InvoiceIn.model_validate(vat_refused())
    created = {}
    async with db.sessionmaker() as session, session.begin():
        for name in ("a", "b"):
            created[name] = await service.create_export(
                session, COMPANY, body, idempotency_key=f"k-{name}"
            )
    a, b = (created[name].export.id for name in ("a", "b"))
    assert [export_id for *_, export_id in await claims(db)] == [b]

    for name, still_claimed_by in (("b", [a]), ("a", [])):
        job = created[name].job
        assert job is not None
        await db.queue.enqueue(JobName.INVOICE_EXPORT, job.id)
        await run_worker_burst(db.settings)
        failed = await get_export(client, str(created[name].export.id))
        assert (failed["status"], failed["error_code"]) == ("failed", "vat_code_unknown")
        assert [export_id for *_, export_id in await claims(db)] == still_claimed_by

    other = await export_and_send(client, db, invoice(number="B-2026-0042"))
    assert (other["status"], other["directo_number"]) == ("sent", NUMBER)
    assert [(n, uku) for n, uku, _ in await claims(db)] == [(NUMBER, "B-2026-0042")]


@pytest.mark.slow
async def test_a_claim_goes_back_to_an_export_whose_put_is_in_doubt(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """A gave up on an unknown outcome (Directo may hold it); a retry B of the same Uku
    invoice is refused by Directo: the number stays with A, not free for another invoice."""
    await ready(client, db, sandbox)
    async with db.sessionmaker() as session, session.begin():
        given_up = await service.create_export(
            session, COMPANY, InvoiceIn.model_validate(invoice()), idempotency_key="k-a"
        )
        await session.execute(
            update(InvoiceExport)
            .where(InvoiceExport.id == given_up.export.id)
            .values(
                status=ExportStatus.FAILED,
                error_code="outcome_unknown",
                put_in_doubt=True,
                attempts=5,
            )
        )
    retry = await export_and_send(client, db, vat_refused())
    assert (retry["status"], retry["error_code"]) == ("failed", "vat_code_unknown")
    assert await claims(db) == [(NUMBER, "INV-2026-0042", given_up.export.id)]
    taken = await client.post(INVOICES, json=invoice(number="B-2026-0042"), headers=key())
    assert (taken.status_code, taken.json()["code"]) == (422, "invoice_number_taken")
