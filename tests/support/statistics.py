"""The statistics tests' company and mapping, set up via the API; the busiest customers;
the schedule's moments and ticks."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from httpx import AsyncClient
from sqlalchemy import update

from app.db.models import ClientLink, Job, SummarySettings
from app.db.repositories import connections as connection_repo
from app.directo.sandbox import SandboxState
from app.directo.sandbox.filters import Filters
from app.resources import Resources
from app.statistics.import_days import ImportDayRule
from app.statistics.monthly_import import start_due_imports
from app.statistics.read_times import ReadTimes, read_times
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


async def link_clients(db: Resources, links: dict[str, str]) -> None:
    """Link clients (id → customer code) to the company's database in one insert: what
    `set_up_company` does through the API, for hundreds of clients."""
    async with db.sessionmaker() as session, session.begin():
        company = await connection_repo.get_connection(session, COMPANY, None)
        assert company is not None
        session.add_all(
            ClientLink(
                company_id=COMPANY,
                client_id=client_id,
                customer_code=code,
                connection_id=company.id,
            )
            for client_id, code in links.items()
        )


async def schedule_from(db: Resources, month: dt.date) -> ReadTimes:
    """Date the summary settings from `month` on (earlier months are never read); `month`'s
    read times for an Estonian client."""
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(SummarySettings).values(created_at=dt.datetime.combine(month, dt.time(), dt.UTC))
        )
    rule = ImportDayRule.LAST_CALENDAR_DAY  # what `set_up_company` saves
    return read_times(month, rule=rule, timing=db.settings.statistics)


async def tick(db: Resources, now: dt.datetime) -> list[Job]:
    """The hourly statistics tick at `now`: the jobs it created (not queued)."""
    async with db.sessionmaker() as session, session.begin():
        return await start_due_imports(session, now=now, timing=db.settings.statistics)
