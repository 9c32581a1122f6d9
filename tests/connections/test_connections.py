"""Connecting Directo through the API, against the sandbox over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.db.models import DirectoCustomer
from app.directo.sandbox import SandboxState, TokenSpec
from app.resources import Resources
from tests.support.helpers import run_worker_burst

COMPANY = "firm-1"
BASE = f"/v1/companies/{COMPANY}/directo"


async def enable(client: AsyncClient, company: str = COMPANY, **settings: Any) -> dict[str, Any]:
    response = await client.put(f"/v1/companies/{company}/directo", json=settings)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def connect(
    client: AsyncClient, token: str, path: str = f"{BASE}/connection", **extra: Any
) -> Any:
    return await client.put(path, json={"token": token, **extra})


async def test_enable_is_idempotent_and_disable_keeps_settings(client: AsyncClient) -> None:
    first = await client.put(BASE, json={})
    assert first.status_code == 201
    assert first.json()["auto_confirm_invoices"] is False
    assert first.json()["invoice_export_enabled"] is False
    again = await client.put(BASE, json={"auto_confirm_invoices": True})
    assert again.status_code == 200
    assert again.json()["auto_confirm_invoices"] is True
    assert (await client.delete(BASE)).status_code == 204
    disabled = (await client.get(BASE)).json()
    assert (disabled["enabled"], disabled["auto_confirm_invoices"]) == (False, True)
    assert (await client.get("/v1/companies/firm-2/directo")).status_code == 404


async def test_connect_needs_the_integration_enabled(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    response = await connect(client, "sandbox-token-ee")
    assert (response.status_code, response.json()["code"]) == (409, "integration_disabled")


@pytest.mark.slow
async def test_connect_with_a_padded_token_tests_stores_and_imports(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await enable(client)
    response = await connect(client, "  sandbox-token-ee\n")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_whitespace_removed"] is True
    assert body["connection"]["token_hint"] == "n-ee"
    assert body["connection"]["health"] == "ok"
    assert body["connection"]["scope"] == "company"
    assert body["test"]["ok"] is True
    assert {c["capability"]: (c["ok"], c["enables"]) for c in body["test"]["capabilities"]} == {
        "customers_out": (True, ["customer_import"]),
        "articles_out": (True, ["article_import", "invoice_export"]),
        "invoices_in": (True, ["invoice_export"]),
        "invoices_out": (True, ["invoice_export", "paid_status", "statistics"]),
        "receipts_out": (True, ["paid_status", "statistics"]),
        "purchases_out": (True, ["statistics"]),
        "transactions_out": (True, ["statistics"]),
    }
    assert (body["test"]["health"], body["test"]["missing_feeds"]) == ("ok", [])
    job = body["import_job"]
    assert (job["kind"], job["status"]) == ("customers_import", "queued")
    assert "sandbox-token-ee" not in response.text

    await run_worker_burst(db.settings)
    finished = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert finished["status"] == "succeeded", finished
    assert finished["counts"]["added"] == 500, finished
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(DirectoCustomer)) == 500

    again = await connect(client, "sandbox-token-ee")
    assert again.status_code == 200
    assert again.json()["token_whitespace_removed"] is False


async def test_wrong_token_is_refused_with_the_regeneration_hint(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    await enable(client)
    response = await connect(client, "not-a-real-token")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unauthorized"
    assert "Personal → Employees → the integration user → Admin tab" in body["detail"]
    assert (await client.get(f"{BASE}/connection")).status_code == 404  # nothing stored


async def test_force_stores_a_failing_token_as_needing_attention(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    await enable(client)
    response = await connect(client, "sandbox-token-revoked", force=True)
    assert response.status_code == 201
    body = response.json()
    assert (body["connection"]["health"], body["import_job"], body["test"]["ok"]) == (
        "needs_attention",
        None,
        False,
    )


async def test_a_token_without_items_shows_articles_out_not_activated(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    sandbox.add_token(
        TokenSpec("no-items", "demo_ee", components=frozenset({"get:customer", "put:invoice"}))
    )
    await enable(client)
    response = await connect(client, "no-items")
    assert response.status_code == 201
    capabilities = {c["capability"]: c for c in response.json()["test"]["capabilities"]}
    assert capabilities["customers_out"]["ok"] is True
    assert capabilities["invoices_in"]["ok"] is True
    assert capabilities["articles_out"]["ok"] is False
    assert capabilities["articles_out"]["code"] == "feed_not_activated"
    assert "ask Directo to activate it" in capabilities["articles_out"]["hint"]
    # Articles are imported for every connection: the connection works, degraded.
    connection = response.json()["connection"]
    assert (connection["health"], connection["missing_feeds"]) == ("degraded", ["articles_out"])
    assert connection["health_hint"] == (
        "Ask Directo to activate articles out (for article import) for this XML Direct key, "
        "then test the connection again."
    )


async def test_stored_connection_test_is_visible_on_get(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    await enable(client)
    await connect(client, "sandbox-token-ee-cards")
    tested = await client.post(f"{BASE}/connection/test")
    assert tested.status_code == 200
    test = tested.json()["test"]
    assert test["ok"] is True
    assert test["code"] == "feed_not_activated"  # invoices in is not licensed for this key
    shown = (await client.get(f"{BASE}/connection")).json()
    assert shown["last_test"] == test
    assert shown["last_test_at"] is not None


@pytest.mark.slow
async def test_client_credentials_override_the_company_connection(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await enable(client)
    await connect(client, "sandbox-token-ee")
    own = await connect(
        client, "sandbox-token-lv", path=f"/v1/companies/{COMPANY}/clients/c-77/directo/connection"
    )
    assert own.status_code == 201
    assert (own.json()["connection"]["scope"], own.json()["connection"]["client_id"]) == (
        "client",
        "c-77",
    )
    company_conn = (await client.get(f"{BASE}/connection")).json()
    client_conn = (
        await client.get(f"/v1/companies/{COMPANY}/clients/c-77/directo/connection")
    ).json()
    assert company_conn["id"] != client_conn["id"]

    from app.connections.service import connection_for_client

    async with db.sessionmaker() as session:
        assert str((await connection_for_client(session, COMPANY, "c-77")).id) == client_conn["id"]  # type: ignore[union-attr]
        assert str((await connection_for_client(session, COMPANY, "c-1")).id) == company_conn["id"]  # type: ignore[union-attr]
    await run_worker_burst(db.settings)
    async with db.sessionmaker() as session:
        first = await session.scalar(
            select(DirectoCustomer.name).where(
                DirectoCustomer.connection_id == client_conn["id"],
                DirectoCustomer.code == "K000001",
            )
        )
    latvian = sandbox.database("demo_lv").customer("K000001")
    assert latvian is not None
    assert first == latvian[0]["name"]  # the client's import read the Latvian database
    assert (
        await client.delete(f"/v1/companies/{COMPANY}/clients/c-77/directo/connection")
    ).status_code == 204
    assert (
        await client.get(f"/v1/companies/{COMPANY}/clients/c-77/directo/connection")
    ).status_code == 404


async def test_revoked_token_turns_health_to_needs_attention_with_one_event(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    await enable(client)
    await connect(client, "sandbox-token-ee")
    sandbox.revoke_token("sandbox-token-ee")
    for _ in range(3):
        tested = (await client.post(f"{BASE}/connection/test")).json()
        assert tested["test"]["code"] == "unauthorized"
    connection = (await client.get(f"{BASE}/connection")).json()
    assert (connection["health"], connection["last_error_code"]) == (
        "needs_attention",
        "unauthorized",
    )
    events = (await client.get(f"/v1/companies/{COMPANY}/events")).json()["items"]
    failed = [event for event in events if event["type"] == "connection.failed"]
    assert len(failed) == 1
    assert failed[0]["data"]["code"] == "unauthorized"
    assert failed[0]["data"]["token_hint"] == "n-ee"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/companies/other/directo/connection"),
        ("post", "/v1/companies/other/directo/connection/test"),
        ("delete", "/v1/companies/other/directo/connection"),
        ("get", "/v1/companies/other/clients/c-77/directo/connection"),
    ],
)
@pytest.mark.slow
async def test_other_companies_see_404(
    client: AsyncClient, sandbox: SandboxState, method: str, path: str
) -> None:
    await enable(client)
    await connect(client, "sandbox-token-ee")
    await connect(
        client, "sandbox-token-lv", path=f"/v1/companies/{COMPANY}/clients/c-77/directo/connection"
    )
    response = await client.request(method, path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
