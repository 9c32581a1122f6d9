"""Invoice export with a key Directo has not activated a feed for: the export fails with
`feed_not_activated` naming the feed, and the connection turns `degraded` (the key works),
not `needs_attention`, with no `connection.failed`. Through the API and a real worker
against the sandbox."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.db.models.exports import InvoiceNumberClaim
from app.directo.sandbox import SandboxState
from app.directo.sandbox.config import ALL_COMPONENTS
from app.resources import Resources
from tests.support.exports_helpers import (
    BASE,
    DATABASE,
    directo_invoice,
    events,
    export_and_send,
    invoice,
    ready,
)

TOKEN = "sandbox-token-ee"


async def assert_degraded_for(client: AsyncClient, feed: str) -> None:
    connection = (await client.get(f"{BASE}/connection")).json()
    assert (connection["health"], connection["last_error_code"]) == (
        "degraded",
        "feed_not_activated",
    )
    assert connection["missing_feeds"] == [feed]
    label = feed.replace("_", " ")
    assert f"Ask Directo to activate {label} (for invoice export)" in connection["health_hint"]
    assert await events(client, "connection.failed") == []


@pytest.mark.slow
async def test_a_key_without_invoices_in_fails_the_export_as_feed_not_activated(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    sandbox.license(TOKEN, ALL_COMPONENTS - {"put:invoice"})
    failed = await export_and_send(client, db, invoice())
    assert (failed["status"], failed["error_code"]) == ("failed", "feed_not_activated"), failed
    (error,) = failed["errors"]
    assert "invoices in" in error["message"]
    assert error["fix"].startswith("Ask Directo to activate invoices in (for invoice export)")
    await assert_degraded_for(client, "invoices_in")
    (event,) = await events(client, "invoice.export_failed")
    assert event["data"]["error_code"] == "feed_not_activated"
    assert directo_invoice(sandbox, 20260042) is None
    async with db.sessionmaker() as session:  # Directo stored nothing: the number is free
        assert (await session.execute(select(InvoiceNumberClaim))).first() is None


@pytest.mark.slow
async def test_a_key_without_invoices_out_leaves_the_duplicate_in_doubt_as_feed_not_activated(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    first = await export_and_send(client, db, invoice())
    assert first["status"] == "sent"
    sandbox.license(TOKEN, ALL_COMPONENTS - {"get:invoice"})
    # The same invoice under a new key: Directo answers "duplicate", the look-up is refused.
    # Directo holds an invoice under the number, so until a look-up says whose, the put
    # stays in doubt: the export is not failed and the number stays claimed.
    again = await export_and_send(client, db, invoice())
    assert (again["status"], again["error_code"]) == ("sending", None), again
    job = (await client.get(f"/v1/jobs/{again['job_id']}")).json()
    assert (job["status"], [e["code"] for e in job["errors"]]) == ("failed", ["feed_not_activated"])
    assert "invoices out" in str(job["errors"][0])
    assert len(sandbox.database(DATABASE).invoices) == 1  # the first one's, sent once
    await assert_degraded_for(client, "invoices_out")
