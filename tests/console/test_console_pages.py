"""Every console page over a company with real data — a connection, a failed export, a
failing webhook delivery, a reload started from the console's form — shows what the API
shows and never a token, secret or key."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.directo.sandbox import SandboxState
from app.main import create_app
from app.resources import Resources
from tests.conftest import API_KEY, ROTATED_API_KEY
from tests.support.console import OPS_KEY, ROTATED_OPS_KEY, console_settings, sign_in
from tests.support.exports_helpers import BASE, COMPANY, export_and_send, invoice, ready
from tests.support.helpers import run_worker_burst

TOKEN = "sandbox-token-ee"


@pytest.fixture
async def http(db: Resources) -> AsyncIterator[AsyncClient]:
    """One client for both doors: the API (bearer key) and the console (its cookie)."""
    app = create_app(console_settings(db.settings))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(
            transport=transport,
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as client:
            yield client


async def _seed(http: AsyncClient, db: Resources, sandbox: SandboxState) -> dict[str, str]:
    """A connected company with a failed export, a failing delivery and a revealed
    callback secret; returns the secrets that must never be rendered."""
    await ready(http, db, sandbox)
    endpoint = await http.post(
        f"/v1/companies/{COMPANY}/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook?token=query-secret-123", "description": "Uku"},
    )
    assert endpoint.status_code == 201, endpoint.text
    callback = await http.post(f"/v1/companies/{COMPANY}/callback-secret/reveal")
    assert callback.status_code == 200, callback.text
    body = invoice(number="INV-77")
    body["rows"][1]["vat_code"] = {"id": "vat-77", "external_code": "77"}
    failed = await export_and_send(http, db, body)
    assert failed["status"] == "failed", failed
    linked = await http.put(
        f"/v1/companies/{COMPANY}/clients/client-1/directo/link",
        json={"customer_code": "K000001"},
    )
    assert linked.status_code == 201, linked.text
    settings = await http.put(
        f"{BASE}/summary-settings",
        json={
            "task_title": "Kuu kokkuvõte",
            "import_day": {"rule": "last_calendar_day"},
            "field_mapping": {"sales_invoices": "uku-sales"},
        },
    )
    assert settings.status_code == 200, settings.text
    await run_worker_burst(db.settings)  # the first delivery attempts fail: nothing listens
    return {
        "token": TOKEN,
        "endpoint secret": endpoint.json()["secret"],
        "endpoint secret body": endpoint.json()["secret"].removeprefix("whsec_"),
        "callback secret": callback.json()["secret"],
        "url query": "query-secret-123",
        "API key": API_KEY,
        "rotated API key": ROTATED_API_KEY,
        "ops key": OPS_KEY,
        "rotated ops key": ROTATED_OPS_KEY,
        "encryption key": db.settings.encryption.keys[0].get_secret_value().partition(":")[2],
    }


@pytest.mark.slow
async def test_every_page_shows_the_data_and_no_secret(
    http: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    secrets = await _seed(http, db, sandbox)
    csrf = await sign_in(http)

    started = await http.post(
        "/ops/reloads",
        data={"csrf_token": csrf, "company": COMPANY, "clients": "client-1", "months": "2"},
    )
    assert started.status_code == 303, started.text
    reload_path = started.headers["location"]
    await run_worker_burst(db.settings)

    pages: dict[str, str] = {}

    async def visit(path: str) -> str:
        page = await http.get(path)
        assert page.status_code == 200, (path, page.text)
        pages[path] = page.text
        return page.text

    companies = await visit("/ops")
    assert f'href="/ops/companies/{COMPANY}"' in companies
    company = await visit(f"/ops/companies/{COMPANY}")
    assert "customers_out" in company
    assert "receipts_out" in company
    assert "status-ok" in company
    jobs = await visit("/ops/jobs")
    job_ids = re.findall(r'href="/ops/jobs/([0-9a-f-]{36})"', jobs)
    assert job_ids, jobs
    for job_id in set(job_ids):
        await visit(f"/ops/jobs/{job_id}")
    reloads = await visit("/ops/reloads")
    assert reload_path in reloads
    reload = await visit(reload_path)
    assert 'id="reload-status"><span class="status status-succeeded">' in reload
    exports = await visit("/ops/exports")
    (export_path,) = re.findall(r'href="(/ops/exports/[^"]+)"', exports)
    export = await visit(export_path)
    assert "vat_code_unknown" in export
    assert "Fix:" in export
    assert "&lt;invoices&gt;" in export or "&lt;invoice " in export  # the XML, escaped
    webhooks = await visit("/ops/webhooks")
    assert "invoice.export_failed" in webhooks
    assert "Redeliver" in webhooks
    assert "http://127.0.0.1:9/hook?…" in webhooks

    for path, html in pages.items():
        for name, secret in secrets.items():
            assert secret not in html, f"{name} rendered on {path}"


async def test_a_refused_reload_is_explained_on_the_form(http: AsyncClient, db: Resources) -> None:
    assert (await http.put(f"/v1/companies/{COMPANY}/directo", json={})).status_code == 201
    csrf = await sign_in(http)
    for fields, status, code in [
        ({"company": COMPANY, "months": "12"}, 409, "summary_settings_missing"),
        ({"company": COMPANY, "months": "99"}, 422, "months_invalid"),
        ({"company": "no-such-company", "months": "3"}, 409, "integration_disabled"),
        ({"company": "x" * 65, "months": "3"}, 422, "company_id_invalid"),
        ({"company": COMPANY, "months": "3", "clients": "k" * 65}, 422, "client_ids_invalid"),
        ({"company": COMPANY, "months": "3", "clients": "ok bad/id"}, 422, "client_ids_invalid"),
    ]:
        refused = await http.post("/ops/reloads", data={"csrf_token": csrf, **fields})
        assert refused.status_code == status, refused.text
        assert f'role="alert" id="reload-problem">\n  <p><code>{code}</code>' in refused.text
