"""The statistics tests' company and mapping, set up via the API; the busiest customers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from httpx import AsyncClient

from app.directo.sandbox import SandboxState
from app.directo.sandbox.filters import Filters
from app.resources import Resources
from tests.support.helpers import run_worker_burst

COMPANY = "stats-firm"

BASE = f"/v1/companies/{COMPANY}"

MAPPING = {
    "sales_invoices": "uku-sales",
    "sales_invoice_rows": "uku-rows",
    "bank_transactions": "uku-bank",
    "documents": "uku-docs",
    "sales_net_total": "uku-net",
    "purchase_invoices": "uku-purchases",
    "ledger_transactions": None,
}


async def set_up_company(
    client: AsyncClient, db: Resources, *, links: dict[str, str], mapping: dict[str, Any] = MAPPING
) -> None:
    """Enable, connect demo_ee, import its customers, link clients, map fields."""
    assert (await client.put(f"{BASE}/directo", json={})).status_code in (200, 201)
    connected = await client.put(f"{BASE}/directo/connection", json={"token": "sandbox-token-ee"})
    assert connected.status_code == 201, connected.text
    await run_worker_burst(db.settings)
    for client_id, code in links.items():
        linked = await client.put(
            f"{BASE}/clients/{client_id}/directo/link", json={"customer_code": code}
        )
        assert linked.status_code == 201, linked.text
    saved = await client.put(
        f"{BASE}/directo/summary-settings",
        json={
            "task_title": "Kuu kokkuvõte",
            "import_day": {"rule": "last_calendar_day"},
            "field_mapping": mapping,
        },
    )
    assert saved.status_code == 200, saved.text


def busiest_customers(sandbox: SandboxState, count: int) -> list[str]:
    """Customer codes with the most invoices in demo_ee (so the values are not all zero)."""
    invoices = sandbox.database("demo_ee").records("invoice", Filters.from_params({}))
    tally = Counter(attrs["customercode"] for attrs, _ in invoices)
    return [code for code, _ in tally.most_common(count)]
