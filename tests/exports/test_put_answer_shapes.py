"""Directo's put answers in the shapes public clients meet (PROTOCOL §3.5, §7), through the
export flow: a bare ``<result type="30" desc="Created"/>`` is `sent`; an answer in words
only (an error text, no Type) is an unknown outcome settled at once by looking the number
up — `sent` when Directo holds the invoice, else `directo_refused` with Directo's words,
never put again."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from app.directo.sandbox import Faults, SandboxState
from app.resources import Resources
from tests.support.exports_helpers import (
    DATABASE,
    directo_invoice,
    events,
    export,
    get_export,
    invoice,
    ready,
)
from tests.support.exports_helpers import puts as invoice_puts
from tests.support.helpers import run_worker_burst

NUMBER = 20260042


def lookups(sandbox: SandboxState) -> list[Any]:
    return [
        entry
        for entry in sandbox.requests
        if entry.op == "get" and entry.what == "invoice" and entry.params.get("number")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["bare", "text"])
async def test_a_result_without_the_results_wrapper_is_sent(
    client: AsyncClient, db: Resources, sandbox: SandboxState, shape: str
) -> None:
    await ready(client, db, sandbox)
    sandbox.database(DATABASE).set_faults(Faults(answer_shape=shape))
    response = await export(client, invoice())
    await run_worker_burst(db.settings)
    exported = await get_export(client, response.json()["id"])
    assert exported["status"] == "sent", exported
    assert (exported["directo_result_type"], exported["directo_result_desc"]) == (30, "Created")
    assert (exported["error_code"], exported["attempts"]) == (None, 1)
    assert len(invoice_puts(sandbox)) == 1
    assert lookups(sandbox) == []
    assert directo_invoice(sandbox, NUMBER) is not None
    assert [event["data"]["export_id"] for event in await events(client, "invoice.exported")] == [
        exported["id"]
    ]


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["error", "err", "error_attr"])
async def test_an_answer_in_words_only_is_looked_up_at_once_not_failed(
    client: AsyncClient, db: Resources, sandbox: SandboxState, shape: str
) -> None:
    await ready(client, db, sandbox)
    # Directo stores the invoice, then answers only an error text ("Created" here).
    sandbox.database(DATABASE).set_faults(Faults(answer_shape=shape))
    response = await export(client, invoice())
    await run_worker_burst(db.settings)
    exported = await get_export(client, response.json()["id"])
    assert exported["status"] == "sent", exported
    assert len(invoice_puts(sandbox)) == 1  # looked up, never sent again
    assert [entry.params["number"] for entry in lookups(sandbox)] == [str(NUMBER)]
    assert len(sandbox.database(DATABASE).invoices) == 1
    assert await events(client, "invoice.export_failed") == []
    # Directo answered, so the look-up follows at once: no retry, its words kept.
    assert (exported["directo_result_type"], exported["directo_result_desc"]) == (None, "Created")
    job = (await client.get(f"/v1/jobs/{exported['job_id']}")).json()
    assert (job["status"], job["attempts"], job["errors"]) == ("succeeded", 1, [])
    assert job["result"] == {"export_id": exported["id"], "outcome": "found_in_directo"}


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["error", "err", "error_attr"])
async def test_a_refusal_in_words_only_fails_with_directos_words_and_is_not_put_again(
    client: AsyncClient, db: Resources, sandbox: SandboxState, shape: str
) -> None:
    await ready(client, db, sandbox)
    sandbox.database(DATABASE).set_faults(Faults(answer_shape=shape))
    body = invoice()
    body["rows"][1]["vat_code"] = {"id": "vat-77", "external_code": "77"}  # Directo refuses
    response = await export(client, body)
    await run_worker_burst(db.settings)
    failed = await get_export(client, response.json()["id"])
    assert (failed["status"], failed["error_code"]) == ("failed", "directo_refused"), failed
    (error,) = failed["errors"]
    assert error["message"] == "Directo refused the invoice: VAT code not found: 77"
    assert error["context"] == {"directo_desc": "VAT code not found: 77"}
    assert error["fix"]
    assert failed["directo_result_desc"] == "VAT code not found: 77"
    assert (failed["attempts"], len(invoice_puts(sandbox)), len(lookups(sandbox))) == (1, 1, 1)
    assert directo_invoice(sandbox, NUMBER) is None
    (event,) = await events(client, "invoice.export_failed")
    assert event["data"]["error_code"] == "directo_refused"
    # Directo holds nothing of it: the number is free for another invoice.
    other = await export(client, invoice(number="B-2026-0042"))
    assert other.status_code == 202, other.text
