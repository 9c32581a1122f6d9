"""Directo's put answers in the shapes public clients meet (PROTOCOL §3.5, §7), through the
export flow: a bare ``<result type="30" desc="Created"/>`` is `sent`; an answer the gateway
cannot classify is an unknown outcome, settled by looking the number up — never "refused,
stored nothing"."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from app.directo.sandbox import Faults, SandboxState
from app.resources import Resources
from tests.exports_helpers import (
    DATABASE,
    directo_invoice,
    events,
    export,
    get_export,
    invoice,
    ready,
)
from tests.exports_helpers import puts as invoice_puts
from tests.helpers import run_worker_burst

NUMBER = 20260042


def lookups(sandbox: SandboxState) -> list[Any]:
    return [
        entry
        for entry in sandbox.requests
        if entry.op == "get" and entry.what == "invoice" and entry.params.get("number")
    ]


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


@pytest.mark.parametrize("shape", ["error", "err", "error_attr"])
async def test_an_answer_that_cannot_be_classified_is_looked_up_not_failed(
    client: AsyncClient, db: Resources, sandbox: SandboxState, shape: str
) -> None:
    await ready(client, db, sandbox)
    # Directo stores the invoice, then answers only an error text ("Created" here).
    sandbox.database(DATABASE).set_faults(Faults(answer_shape=shape))
    response = await export(client, invoice())
    await run_worker_burst(db.settings)  # the retry runs in the same burst
    exported = await get_export(client, response.json()["id"])
    assert exported["status"] == "sent", exported
    assert len(invoice_puts(sandbox)) == 1  # looked up, never sent again
    assert [entry.params["number"] for entry in lookups(sandbox)] == [str(NUMBER)]
    assert len(sandbox.database(DATABASE).invoices) == 1
    assert await events(client, "invoice.export_failed") == []
    job = (await client.get(f"/v1/jobs/{exported['job_id']}")).json()
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert [error["code"] for error in job["errors"]] == ["outcome_unknown"]
    assert "Created" in job["errors"][0]["detail"]  # Directo's own words are kept
    assert job["result"] == {"export_id": exported["id"], "outcome": "found_in_directo"}
