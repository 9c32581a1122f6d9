"""The demo's steps, in order, each through the public API (and the sandbox's admin
routes for what only Directo would do: a customer paying). Each step says what it did,
what came back, and where the operations console shows it; the first step that fails
raises `DemoFailed` naming it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app.demo.invoice import demo_invoice, demo_invoice_number
from app.demo.receiver import Receiver, running_receiver

Say = Callable[[str], None]
TERMINAL = {"succeeded", "partially_failed", "failed", "interrupted"}


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Where the gateway and the sandbox listen (what `./scripts/dev` starts), and whom
    the demo plays."""

    api_url: str = "http://127.0.0.1:8000"
    api_key: str = "dev-api-key"
    sandbox_url: str = "http://127.0.0.1:8765"
    token: str = "sandbox-token-ee"  # noqa: S105 (the sandbox's public test token)
    database: str = "demo_ee"
    company_id: str = "demo-company"
    client_id: str = "demo-client"
    customer_code: str = "K000001"
    country: str = "EE"
    step_timeout: float = 120.0
    paid_timeout: float = 300.0
    poll_seconds: float = 0.5


class DemoFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


def _brief(body: Any, limit: int = 400) -> str:
    text = json.dumps(body, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " …"


class _Demo:
    def __init__(self, options: DemoOptions, http: httpx.AsyncClient, say: Say) -> None:
        self.options = options
        self.http = http
        self.say = say
        self.company = f"/v1/companies/{options.company_id}"
        self.step = "start"

    def begin(self, step: str, doing: str) -> None:
        self.step = step
        self.say(f"\n== {step}: {doing}")

    def console(self, page: str) -> None:
        self.say(f"   console: {self.options.api_url}{page}")

    async def call(
        self,
        method: str,
        url: str,
        *,
        expect: set[int],
        http: httpx.AsyncClient | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        try:
            response = await (http or self.http).request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise DemoFailed(self.step, f"{method} {url} failed: {error!r}") from None
        body = response.json() if response.content else {}
        if response.status_code not in expect:
            raise DemoFailed(self.step, f"{method} {url} answered {response.status_code}: {body}")
        self.say(f"   {method} {url} → {response.status_code}")
        return dict(body)

    async def until(self, url: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.step_timeout
        while True:
            response = await self.http.get(url)
            body = dict(response.json())
            if response.status_code == 200 and done(body):
                return body
            if time.monotonic() > deadline:
                raise DemoFailed(self.step, f"gave up waiting on {url}; last: {_brief(body)}")
            await asyncio.sleep(self.options.poll_seconds)

    async def job(self, job_id: str) -> dict[str, Any]:
        job = await self.until(f"/v1/jobs/{job_id}", lambda body: body["status"] in TERMINAL)
        self.say(f"   job {job_id} ({job['kind']}): {job['status']}, counts {job['counts']}")
        if job["status"] not in {"succeeded", "partially_failed"}:
            raise DemoFailed(self.step, f"job {job_id} ended {job['status']}: {job['errors']}")
        return job


async def _check_gateway(demo: _Demo) -> None:
    demo.begin("gateway", f"is the gateway at {demo.options.api_url} ready?")
    try:
        ready = await demo.http.get("/readyz")
    except httpx.HTTPError:
        raise DemoFailed(
            demo.step, f"nothing answers at {demo.options.api_url}: start it with ./scripts/dev"
        ) from None
    if ready.status_code != 200:
        raise DemoFailed(demo.step, f"/readyz answered {ready.status_code}: {ready.text}")
    demo.say(f"   ready: {_brief(ready.json())}")


async def _enable(demo: _Demo) -> None:
    demo.begin("enable", "turn the Directo integration on, with invoice export")
    body = {"invoice_export_enabled": True, "auto_confirm_invoices": False}
    shown = await demo.call("PUT", f"{demo.company}/directo", json=body, expect={200, 201})
    demo.say(f"   {_brief(shown)}")
    demo.console("/ops")


async def _register(demo: _Demo, receiver: Receiver) -> str:
    demo.begin("webhooks", f"register a receiver on loopback ({receiver.url})")
    created = await demo.call(
        "POST",
        f"{demo.company}/webhook-endpoints",
        json={"url": receiver.url, "event_types": [], "description": "directo-gateway demo"},
        expect={201},
    )
    receiver.secret = created["secret"]
    demo.say(f"   endpoint {created['id']}, signing secret whsec_… (shown once, kept by the demo)")
    demo.console("/ops/webhooks")
    return str(created["id"])


async def _connect(demo: _Demo) -> None:
    demo.begin("connect", f"store the sandbox token {demo.options.token!r} (tested first)")
    body = {"token": demo.options.token}
    connected = await demo.call(
        "PUT", f"{demo.company}/directo/connection", json=body, expect={200, 201}
    )
    connection = connected["connection"]
    demo.say(f"   health {connection['health']}, token …{connection['token_hint']}")
    if connected.get("import_job"):
        demo.say("   the customer import started; waiting for it")
        await demo.job(connected["import_job"]["id"])
    demo.console("/ops/jobs")


async def _import_articles(demo: _Demo) -> None:
    demo.begin("articles", "import the articles (items)")
    job = await demo.call(
        "POST", f"{demo.company}/directo/imports", json={"feed": "articles"}, expect={200, 202}
    )
    await demo.job(job["id"])


async def _link(demo: _Demo) -> None:
    options = demo.options
    demo.begin("link", f"link client {options.client_id!r} to customer {options.customer_code!r}")
    body = {"customer_code": options.customer_code, "country": options.country}
    url = f"{demo.company}/clients/{options.client_id}/directo/link"
    demo.say(f"   {_brief(await demo.call('PUT', url, json=body, expect={200, 201}))}")
    demo.say(f"   country {options.country}: its public holidays set the last work day")


async def _summary_settings(demo: _Demo) -> None:
    demo.begin("summary settings", "map two statistics fields to Uku task fields")
    body = {
        "task_title": "Monthly bookkeeping summary",
        "import_day": {"rule": "last_work_day"},
        "field_mapping": {"sales_invoices": "uku-field-invoices", "documents": "uku-field-docs"},
    }
    url = f"{demo.company}/directo/summary-settings"
    demo.say(f"   {_brief(await demo.call('PUT', url, json=body, expect={200, 201}))}")


async def _reload(demo: _Demo) -> None:
    demo.begin("reload", "back-fill 3 months of statistics for the client")
    months = 3
    body = {"client_ids": [demo.options.client_id], "months": months}
    started = await demo.call(
        "POST", f"{demo.company}/directo/reloads", json=body, expect={200, 202}
    )
    demo.console("/ops/reloads")
    reload = await demo.until(f"/v1/reloads/{started['id']}", lambda r: r["status"] in TERMINAL)
    demo.say(f"   reload {reload['id']}: {reload['status']}, clients {reload['clients']}")
    if reload["status"] != "succeeded":
        raise DemoFailed(demo.step, f"the reload ended {reload['status']}")
    stats = await demo.call(
        "GET",
        f"{demo.company}/clients/{demo.options.client_id}/directo/statistics",
        expect={200},
    )
    for month in stats["months"][-months:]:
        values = ", ".join(f"{v['field_key']}={v['value']}" for v in month["values"]) or "-"
        demo.say(f"   {month['month']}: {values}")


async def _export(demo: _Demo) -> dict[str, Any]:
    options = demo.options
    demo.begin("export", "export an invoice to Directo")
    body = demo_invoice(
        number=demo_invoice_number(),
        client_id=options.client_id,
        customer_code=options.customer_code,
        today=dt.date.today(),
    )
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    url = f"{demo.company}/directo/invoices"
    created = await demo.call("POST", url, json=body, headers=headers, expect={202})
    demo.console("/ops/exports")
    export = await demo.until(f"{url}/{created['id']}", lambda e: e["status"] in {"sent", "failed"})
    if export["status"] != "sent":
        raise DemoFailed(demo.step, f"the export failed: {_brief(export['errors'], 1200)}")
    demo.say(
        f"   {export['invoice_number']} is Directo invoice {export['directo_number']} "
        f"(docid {export['directo_docid']}), payment {export['payment']['status']}"
    )
    return export


async def _pay(demo: _Demo, export: dict[str, Any]) -> None:
    options = demo.options
    demo.begin("pay", "a customer pays: a confirmed receipt in the sandbox (admin route)")
    url = f"{options.sandbox_url}/_sandbox/databases/{options.database}/receipts"
    async with httpx.AsyncClient(timeout=30) as sandbox:  # without the gateway's key
        body = {"invoice": export["directo_number"]}
        receipt = await demo.call("POST", url, json=body, expect={201}, http=sandbox)
    demo.say(f"   receipt {receipt['attrs'].get('number')} for {export['directo_number']}")


async def _see_paid(demo: _Demo, export: dict[str, Any], receiver: Receiver) -> dict[str, Any]:
    demo.begin("paid", "wait for the paid-status poll and the signed invoice.paid webhook")
    demo.say("   (the worker polls Directo every GATEWAY_SYNC__PAYMENT_POLL_MINUTES)")
    deadline = time.monotonic() + demo.options.paid_timeout
    while (event := receiver.find("invoice.paid", export_id=export["id"])) is None:
        if time.monotonic() > deadline:
            raise DemoFailed(
                demo.step,
                f"no invoice.paid within {demo.options.paid_timeout:.0f} s "
                f"(webhook deliveries received: {len(receiver.events)}, "
                f"refused signatures: {receiver.rejected})",
            )
        await asyncio.sleep(demo.options.poll_seconds)
    demo.say(f"   invoice.paid (signature verified): {_brief(event['data'])}")
    demo.say(f"   events list: {demo.options.api_url}{demo.company}/events")
    demo.console("/ops/webhooks")
    return event


Step = Callable[[_Demo], Awaitable[None]]


async def run_demo(options: DemoOptions, say: Say) -> dict[str, Any]:
    """Run the whole flow against a running gateway and sandbox; return the
    `invoice.paid` event. Raises `DemoFailed` at the first step that fails."""
    headers = {"Authorization": f"Bearer {options.api_key}"}
    async with httpx.AsyncClient(base_url=options.api_url, headers=headers, timeout=30) as http:
        demo = _Demo(options, http, say)
        await _check_gateway(demo)
        await _enable(demo)
        with running_receiver() as receiver:
            endpoint_id = await _register(demo, receiver)
            try:
                steps: list[Step] = [_connect, _import_articles, _link, _summary_settings, _reload]
                for step in steps:
                    await step(demo)
                export = await _export(demo)
                await _pay(demo, export)
                event = await _see_paid(demo, export, receiver)
            finally:
                # The receiver stops with the demo: leave no endpoint retrying into the void.
                await http.delete(f"{demo.company}/webhook-endpoints/{endpoint_id}")
    say(f"\ninvoice paid: {export['invoice_number']} ({export['directo_number']}). Done.")
    return event
