"""One Directo number, one Uku invoice: `INV-2026-0042`, `B-2026-0042` and `2026/0042` all
become Directo number 20260042, so only one of them may be exported under it — refused
before sending, decided by a database claim when requests race, and checked again by the
send's look-up. And numbers Directo cannot hold (foreign digits, more than 9 digits) are
refused before sending. Through the API and a real worker against the sandbox."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text

from app.db.models import ExportStatus, InvoiceExport
from app.db.models.exports import InvoiceNumberClaim
from app.directo.sandbox import SandboxState
from app.errors import AppError
from app.exports import service
from app.exports.schemas import InvoiceIn
from app.queue.names import JobName
from app.resources import Resources
from tests.support.exports_helpers import (
    COMPANY,
    DATABASE,
    INVOICES,
    directo_invoice,
    events,
    export_and_send,
    get_export,
    invoice,
    key,
    puts,
    ready,
)
from tests.support.helpers import run_worker_burst

SAME_NUMBER = ["B-2026-0042", "2026/0042", "A-2026-0042", "X2026-0042", "2026-0042"]


def taken_by(problem: dict[str, Any], holder: str) -> dict[str, Any]:
    """The `invoice_number_taken` item of a 422, checked to name `holder` and the fix."""
    assert problem["code"] == "invoice_number_taken", problem
    (item,) = [e for e in problem["errors"] if e["code"] == "invoice_number_taken"]
    assert item["loc"] == ["number"]
    assert item["context"] == {"directo_number": 20260042, "held_by": holder}
    assert repr(holder) in item["message"]
    assert item["fix"].startswith("Renumber this invoice in Uku, or send this number series")
    return dict(item)


async def claims(db: Resources) -> list[tuple[int, str]]:
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(InvoiceNumberClaim.directo_number, InvoiceNumberClaim.uku_invoice_number)
        )
        return [(number, uku) for number, uku in rows]


@pytest.mark.slow
async def test_a_number_held_by_another_uku_invoice_is_refused_before_sending(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    first = await export_and_send(client, db, invoice())
    assert (first["status"], first["directo_number"]) == ("sent", 20260042)
    for number in SAME_NUMBER[:2]:
        for path in (f"{INVOICES}/validate", INVOICES):
            refused = await client.post(path, json=invoice(number=number), headers=key())
            assert refused.status_code == 422, refused.text
            item = taken_by(refused.json(), "INV-2026-0042")
            assert item["message"] == (
                f"Invoice {number!r} would be Directo number 20260042, which invoice "
                "'INV-2026-0042' already holds on this Directo connection: Directo would "
                "keep one invoice for both."
            )
    # Every problem at once: a content problem is listed beside the collision.
    body = invoice(number="B-2026-0042")
    body["rows"][0]["vat_code"] = {"id": "vat-x"}
    both = (await client.post(f"{INVOICES}/validate", json=body)).json()
    assert [e["code"] for e in both["errors"]] == ["vat_code_missing", "invoice_number_taken"]
    assert both["code"] == "invoice_number_taken"
    await run_worker_burst(db.settings)
    assert len(puts(sandbox)) == 1
    assert [item["id"] for item in (await client.get(INVOICES)).json()["items"]] == [first["id"]]
    # The same Uku invoice under a new key is still its own: it re-claims the number.
    again = await export_and_send(client, db, invoice())
    assert (again["status"], again["directo_result_type"]) == ("sent", 11)
    assert len(sandbox.database(DATABASE).invoices) == 1
    assert await claims(db) == [(20260042, "INV-2026-0042")]


@pytest.mark.slow
async def test_concurrent_exports_of_different_invoices_for_one_number_exactly_one_wins(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    numbers = ["INV-2026-0042", *SAME_NUMBER]
    responses = await asyncio.gather(
        *(client.post(INVOICES, json=invoice(number=n), headers=key()) for n in numbers)
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202] + [422] * (len(numbers) - 1), [r.text for r in responses]
    (winner,) = [r.json() for r in responses if r.status_code == 202]
    for response in responses:
        if response.status_code == 422:
            taken_by(response.json(), winner["invoice_number"])
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(InvoiceExport)) == 1
    assert await claims(db) == [(20260042, winner["invoice_number"])]
    await run_worker_burst(db.settings)
    assert (await get_export(client, winner["id"]))["status"] == "sent"
    assert len(puts(sandbox)) == 1
    assert len(sandbox.database(DATABASE).invoices) == 1


async def _blocked_on_a_lock(db: Resources, *, deadline: float) -> None:
    """Wait until a backend of this database waits for a lock (or fail at `deadline`)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        async with db.engine.connect() as connection:
            if await connection.scalar(query):
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the second export never waited for the first one's claim")


@pytest.mark.slow
async def test_the_claim_not_a_read_decides_a_race(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """The second export validates while the first is uncommitted (its read sees the number
    free); the claim's primary key makes it wait for the first, then refuse."""
    await ready(client, db, sandbox)
    async with db.sessionmaker() as first, db.sessionmaker() as second:
        created = await service.create_export(
            first, COMPANY, InvoiceIn.model_validate(invoice()), idempotency_key="k-first"
        )
        racing = asyncio.create_task(
            service.create_export(
                second,
                COMPANY,
                InvoiceIn.model_validate(invoice(number="B-2026-0042")),
                idempotency_key="k-second",
            )
        )
        await _blocked_on_a_lock(db, deadline=time.monotonic() + 10)
        assert not racing.done()
        await first.commit()
        with pytest.raises(AppError) as refused:
            await racing
        await second.rollback()
    assert (refused.value.code, refused.value.status) == ("invoice_number_taken", 422)
    assert refused.value.errors[0].context == {
        "directo_number": 20260042,
        "held_by": "INV-2026-0042",
    }
    assert created.export.uku_invoice_number == "INV-2026-0042"
    assert await claims(db) == [(20260042, "INV-2026-0042")]


@pytest.mark.slow
async def test_a_failed_export_releases_its_number(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    refused = invoice()
    refused["rows"][1]["vat_code"] = {"id": "vat-77", "external_code": "77"}
    failed = await export_and_send(client, db, refused)
    assert (failed["status"], failed["error_code"]) == ("failed", "vat_code_unknown")
    assert await claims(db) == []  # Directo holds nothing of it
    other = await export_and_send(client, db, invoice(number="B-2026-0042"))
    assert (other["status"], other["directo_number"]) == ("sent", 20260042)
    assert await claims(db) == [(20260042, "B-2026-0042")]


@pytest.mark.slow
async def test_the_lookup_refuses_an_invoice_another_uku_number_sent(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """An export recorded without a claim (accepted before claims existed) whose number
    Directo already holds for another Uku invoice of the same customer and amount: Directo
    answers "duplicate", the look-up finds a matching invoice — and it is not this one."""
    await ready(client, db, sandbox)
    first = await export_and_send(client, db, invoice())
    async with db.sessionmaker() as session, session.begin():
        original = await session.get(InvoiceExport, uuid.UUID(first["id"]))
        assert original is not None
        body = invoice(number="B-2026-0042")
        legacy = InvoiceExport(
            id=uuid.uuid4(),
            company_id=COMPANY,
            client_id=original.client_id,
            connection_id=original.connection_id,
            idempotency_key="from-before-claims",
            request_hash="0" * 64,
            request_body=body,
            uku_invoice_number="B-2026-0042",
            directo_number=20260042,
            customer_code=original.customer_code,
            currency="EUR",
            net_total=original.net_total,
            status=ExportStatus.QUEUED,
            xml_sent=original.xml_sent,
            errors=[],
            attempts=0,
        )
        session.add(legacy)
        await session.flush()
        job = await service.start_send(session, legacy)
        legacy_id, job_id = legacy.id, job.id
    await db.queue.enqueue(JobName.INVOICE_EXPORT, job_id)
    await run_worker_burst(db.settings)
    refused = await get_export(client, str(legacy_id))
    assert (refused["status"], refused["error_code"]) == ("failed", "invoice_number_taken")
    assert refused["directo_result_type"] == 11  # Directo's "duplicate", then the look-up
    assert refused["errors"][0]["context"] == {
        "directo_number": 20260042,
        "held_by": "INV-2026-0042",
    }
    exported = await events(client, "invoice.exported")
    assert [event["data"]["export_id"] for event in exported] == [first["id"]]
    (failed,) = await events(client, "invoice.export_failed")
    assert failed["data"]["error_code"] == "invoice_number_taken"
    assert len(sandbox.database(DATABASE).invoices) == 1
    assert await claims(db) == [(20260042, "INV-2026-0042")]


@pytest.mark.slow
async def test_numbers_directo_cannot_hold_are_refused_before_sending(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    cases = {
        # Arabic-Indic digits: never dropped (that would export it as 2026).
        "INV-2026-١٢": (
            "invoice_number_invalid",
            "Invoice number 'INV-2026-١٢' holds digits other than 0–9: '١' (U+0661), "
            "'٢' (U+0662). Directo numbers are made of the invoice number's digits 0–9 only.",
        ),
        # Ten digits: within a 32-bit int, but Directo's document numbers have nine.
        "INV-2026-000042": (
            "invoice_number_too_long",
            "Invoice number 'INV-2026-000042' gives 2026000042, 10 digits: Directo's "
            "document numbers have at most 9.",
        ),
    }
    for number, (code, message) in cases.items():
        for path in (f"{INVOICES}/validate", INVOICES):
            response = await client.post(path, json=invoice(number=number), headers=key())
            assert response.status_code == 422, response.text
            problem = response.json()
            assert problem["code"] == "invoice_invalid"
            (item,) = problem["errors"]
            assert (item["code"], item["loc"], item["message"]) == (code, ["number"], message)
            assert item["fix"]
    assert puts(sandbox) == []
    shorter = await export_and_send(client, db, invoice(number="INV-26-000042"))
    assert (shorter["status"], shorter["directo_number"]) == ("sent", 26000042)
    assert directo_invoice(sandbox, 26000042) is not None
