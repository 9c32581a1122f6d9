"""Shared set-up for the invoice export and paid-status tests: a company connected to the
sandbox's demo_ee with customers and articles imported, and the seed's example invoice."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any

from httpx import AsyncClient, Response

from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.support.helpers import run_worker_burst

COMPANY = "firm-export"
BASE = f"/v1/companies/{COMPANY}/directo"
INVOICES = f"{BASE}/invoices"
DATABASE = "demo_ee"

# Seed 001's example: INV-2026-0042, 14 days, a row by resource, one by the default resource.
SEED_INVOICE: dict[str, Any] = {
    "number": "INV-2026-0042",
    "invoice_date": "2026-03-02",
    "due_date": "2026-03-16",
    "currency": "EUR",
    "client_id": "client-1",
    "customer_code": "K000001",
    "comment": "Märts 2026 — raamatupidamine",
    "rows": [
        {
            "article_code": "RAAMAT",
            "description": "Raamatupidamisteenus, märts",
            "quantity": "1",
            "unit_price": "180.00",
            "vat_code": {"id": "vat-24", "name": "24%", "external_code": "24"},
            "resource_id": "res-mari",
        },
        {
            "article_code": "KONS",
            "description": "Konsultatsioon (Jüri)",
            "quantity": "2.5",
            "unit_price": "60.00",
            "vat_code": {"id": "vat-24", "name": "24%", "external_code": "24"},
        },
    ],
    "billing": {
        "default_resource_id": "res-jyri",
        "default_resource_is_default_user": False,
    },
    "resources": [
        {"id": "res-mari", "name": "Mari Maasikas", "external_code": "MARI"},
        {"id": "res-jyri", "name": "Jüri Jõgi", "external_code": "JYRI"},
        {"id": "res-new", "name": "Uus Töötaja"},
    ],
}


def invoice(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_INVOICE)
    body.update(overrides)
    return body


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def ready(
    client: AsyncClient,
    db: Resources,
    sandbox: SandboxState,
    *,
    export_enabled: bool = True,
    auto_confirm: bool = False,
) -> None:
    """Enable Directo for the company, connect demo_ee, import customers and articles."""
    settings = {"invoice_export_enabled": export_enabled, "auto_confirm_invoices": auto_confirm}
    assert (await client.put(BASE, json=settings)).status_code in {200, 201}
    connected = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert connected.status_code == 201, connected.text
    # One import after the other: concurrent customer and article imports of one
    # connection can deadlock on the connection row when reporting its health.
    await run_worker_burst(db.settings)
    articles = await client.post(f"{BASE}/imports", json={"feed": "articles"})
    assert articles.status_code == 202, articles.text
    await run_worker_burst(db.settings)
    for job_id in (connected.json()["import_job"]["id"], articles.json()["id"]):
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        assert job["status"] == "succeeded", job
    sandbox.clear_requests()  # the connection test's probe put is not an export


async def export(
    client: AsyncClient, body: dict[str, Any], *, headers: dict[str, str] | None = None
) -> Response:
    return await client.post(INVOICES, json=body, headers=headers or key())


async def export_and_send(
    client: AsyncClient, db: Resources, body: dict[str, Any]
) -> dict[str, Any]:
    """Export `body`, run the worker, and return the export as the API shows it then."""
    response = await export(client, body)
    assert response.status_code == 202, response.text
    await run_worker_burst(db.settings)
    return await get_export(client, response.json()["id"])


async def get_export(client: AsyncClient, export_id: str) -> dict[str, Any]:
    response = await client.get(f"{INVOICES}/{export_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def events(client: AsyncClient, *types: str) -> list[dict[str, Any]]:
    """The company's events (of `types`, when given), oldest first."""
    page = (await client.get(f"/v1/companies/{COMPANY}/events", params={"limit": 500})).json()
    return [item for item in page["items"] if not types or item["type"] in types]


def puts(sandbox: SandboxState) -> list[Any]:
    return [entry for entry in sandbox.requests if entry.op == "put" and entry.what == "invoice"]


def directo_invoice(sandbox: SandboxState, number: int) -> dict[str, str] | None:
    found = sandbox.database(DATABASE).invoice(str(number))
    return found[0] if found else None


def today() -> dt.date:
    return dt.date.today()
