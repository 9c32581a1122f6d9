"""The console in a real browser: Debian's Chromium, headless, driven by Playwright, against
a real API (uvicorn on loopback), a real worker process and the Directo sandbox.

An operator signs in (after a wrong key), sees a connection's health, starts a reload and
watches it reach `succeeded`, opens a failed export's fix, redelivers a failed webhook and
signs out. On failure a screenshot is kept under `test-artifacts/`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.conftest import API_KEY
from tests.support.console import OPS_KEY, LiveGateway, console_settings
from tests.support.exports_helpers import SEED_INVOICE
from tests.support.receiver import Receiver, running_receiver
from tests.support.waiting import wait_until
from tests.support.workers import start_worker

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
COMPANY = "console-firm"
BASE = f"/v1/companies/{COMPANY}"
LIVE = 60_000  # ms: generous for a loaded 2-core machine; each wait ends when it holds

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)",
)


async def _job_done(api: httpx.AsyncClient, job_id: str) -> dict[str, Any] | None:
    job = (await api.get(f"/v1/jobs/{job_id}")).json()
    return job if job["status"] in ("succeeded", "failed", "partially_failed") else None


async def _seed(api: httpx.AsyncClient, receiver: Receiver) -> dict[str, str]:
    """A connected company with articles, a linked client, summary settings, an endpoint
    whose receiver answers 503 for now, and an export that failed; returns the ids."""
    enabled = await api.put(f"{BASE}/directo", json={"invoice_export_enabled": True})
    assert enabled.status_code == 201, enabled.text
    connected = await api.put(f"{BASE}/directo/connection", json={"token": "sandbox-token-ee"})
    assert connected.status_code == 201, connected.text
    customers = connected.json()["import_job"]["id"]
    assert (await wait_until(lambda: _job_done(api, customers), what="customers"))["status"] == (
        "succeeded"
    )
    articles = await api.post(f"{BASE}/directo/imports", json={"feed": "articles"})
    assert articles.status_code == 202, articles.text
    done = await wait_until(lambda: _job_done(api, articles.json()["id"]), what="articles")
    assert done["status"] == "succeeded", done
    linked = await api.put(
        f"{BASE}/clients/client-1/directo/link", json={"customer_code": "K000001"}
    )
    assert linked.status_code == 201, linked.text
    summary = await api.put(
        f"{BASE}/directo/summary-settings",
        json={
            "task_title": "Kuu kokkuvõte",
            "import_day": {"rule": "last_calendar_day"},
            "field_mapping": {"sales_invoices": "uku-sales", "sales_net_total": "uku-net"},
        },
    )
    assert summary.status_code == 200, summary.text
    receiver.always("/hook", 503, headers={"Retry-After": "3600"})  # retry in an hour
    endpoint = await api.post(
        f"{BASE}/webhook-endpoints",
        json={"url": receiver.url("/hook"), "event_types": ["invoice.export_failed"]},
    )
    assert endpoint.status_code == 201, endpoint.text
    body = {**SEED_INVOICE, "number": "INV-2026-0077"}
    body["rows"] = [dict(row) for row in SEED_INVOICE["rows"]]
    body["rows"][1]["vat_code"] = {"id": "vat-77", "external_code": "77"}  # unknown to Directo
    exported = await api.post(
        f"{BASE}/directo/invoices", json=body, headers={"Idempotency-Key": "console-77"}
    )
    assert exported.status_code == 202, exported.text
    export_path = f"{BASE}/directo/invoices/{exported.json()['id']}"

    async def export_failed() -> bool:
        return bool((await api.get(export_path)).json()["status"] == "failed")

    await wait_until(export_failed, what="the export to fail")
    deliveries = f"{BASE}/webhook-endpoints/{endpoint.json()['id']}/deliveries"

    async def delivery_failing() -> dict[str, Any] | None:
        items = (await api.get(deliveries)).json()["items"]
        return items[0] if items and items[0]["last_status_code"] == 503 else None

    delivery = await wait_until(delivery_failing, what="the first delivery attempt to fail")
    return {"deliveries": deliveries, "delivery_id": delivery["id"]}


async def _walk(
    page: Page, url: str, api: httpx.AsyncClient, receiver: Receiver, ids: dict[str, str]
) -> None:
    # Signing in: a wrong key first.
    await page.goto(f"{url}/ops")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sign in to the operations console"
    )
    await page.get_by_label("Operations key").fill("not-the-operations-key")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Sign in").click()
    assert (await answer.value).status == 401
    await expect(page.get_by_role("alert")).to_contain_text("That operations key is not valid")
    await page.get_by_label("Operations key").fill(OPS_KEY)
    await page.get_by_label("Operations key").press("Enter")  # the keyboard signs in too
    await expect(page.get_by_role("heading", level=1)).to_have_text("Companies")
    await page.keyboard.press("Tab")  # keyboard first: the skip link leads
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    # A connection's health and its last test, feed by feed.
    await page.get_by_role("link", name=COMPANY).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Company {COMPANY}")
    facts = page.locator("section.card dl.facts").first
    await expect(facts.locator(".status-ok")).to_have_text("ok")
    await expect(page.get_by_role("rowheader", name="customers_out")).to_be_visible()

    # A reload, started from the form and followed live to its end.
    await page.get_by_role("link", name="Reloads").click()
    await page.get_by_label("Company").select_option(COMPANY)
    await page.get_by_label("Clients").fill("client-1")
    await page.get_by_label("Months").fill("3")
    await page.get_by_role("button", name="Start reload").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Reload of {COMPANY}")
    await expect(page.locator("#reload-status")).to_have_text("succeeded", timeout=LIVE)
    await expect(page.get_by_role("rowheader", name="client-1")).to_be_visible()

    # A failed export's errors and fix, and the XML both ways.
    await page.get_by_role("link", name="Exports").click()
    await page.get_by_role("link", name="INV-2026-0077").click()
    await expect(page.get_by_text("vat_code_unknown").first).to_be_visible()
    await expect(page.locator(".fix").first).to_contain_text("Fix:")
    await expect(page.get_by_label("XML sent")).to_contain_text("<invoice")

    # The failing delivery, redelivered: the receiver now answers 200.
    receiver.answers.pop("/hook")
    await page.get_by_role("link", name="Webhooks").click()
    row = page.locator(f"#delivery-{ids['delivery_id']}")
    await expect(row.locator(".status")).to_have_text("pending")
    await row.get_by_role("button", name="Redeliver").click()
    await expect(page.get_by_role("status")).to_contain_text("queued to be sent again")

    async def delivered() -> bool:
        items = (await api.get(ids["deliveries"])).json()["items"]
        return bool(items[0]["status"] == "succeeded")

    await wait_until(delivered, what="the redelivery to succeed", within=LIVE / 1000)
    assert [request.path for request in receiver.requests] == ["/hook", "/hook"]
    await page.reload()
    await expect(row.locator(".status")).to_have_text("succeeded")

    # Signing out ends the session.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sign in to the operations console"
    )
    await page.goto(f"{url}/ops/jobs")
    await expect(page).to_have_url(f"{url}/ops/sign-in?next=/ops/jobs")


@pytest.mark.slow
async def test_an_operator_works_through_the_console(
    db: Resources, sandbox: SandboxState, request: pytest.FixtureRequest
) -> None:
    settings = console_settings(db.settings)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with running_receiver() as receiver, LiveGateway(settings) as gateway:
        worker = await start_worker(db)
        try:
            async with httpx.AsyncClient(base_url=gateway.url, headers=auth, timeout=30) as api:
                ids = await _seed(api, receiver)
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=CHROMIUM, headless=True
                    )
                    page = await browser.new_page(viewport={"width": 1366, "height": 768})
                    page.set_default_timeout(15_000)
                    try:
                        await _walk(page, gateway.url, api, receiver, ids)
                    except BaseException:
                        ARTIFACTS.mkdir(exist_ok=True)
                        await page.screenshot(
                            path=ARTIFACTS / f"{request.node.name}.png", full_page=True
                        )
                        raise
                    finally:
                        await browser.close()
        finally:
            worker.send_signal(signal.SIGTERM)
            await worker.wait()
