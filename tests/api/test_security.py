"""Security checks (§13), driven by the routes the app really serves, so a route added later
is covered — or, where a test needs to know about it, makes the test fail until it is listed.

* **Auth**: every operation in the OpenAPI document except the health routes answers 401
  with the problem body to a request without a key, with a wrong key, and with the right
  key under the wrong scheme.
* **Tenant isolation**: company B asking for company A's sub-resources (clients'
  connections, links, webhook endpoints and their deliveries …) gets a 4xx that names
  nothing of A, and A's data is untouched; every read route under a company shows B
  nothing of A. Routes taking an id outside `/v1/companies/{company_id}` are listed with
  the reason they are not company-scoped.
* **SSRF**: webhook targets are refused when a host resolves — by numeric tricks, by an
  IPv6 form carrying a private IPv4 address, or by DNS — to a non-public address, at
  registration and again at delivery (DNS rebinding); a delivery connects to the address
  it checked, with no second lookup. (`tests/webhooks/test_webhooks.py` covers literal addresses.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response

from app.config import Settings
from app.directo.sandbox import SandboxState
from app.main import create_app
from app.resources import Resources
from app.webhooks.delivery import deliver_due
from app.webhooks.outbox import emit
from app.webhooks.ssrf import UnsafeTargetError, resolve_target
from app.webhooks.types import EventType
from tests.conftest import API_KEY, make_settings
from tests.support.exports_helpers import invoice, key
from tests.support.helpers import problem_of, run_worker_burst
from tests.support.receiver import Receiver, running_receiver

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
PUBLIC = {("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics")}
COMPANY_PREFIX = "/v1/companies/{company_id}/"

_APP = create_app(make_settings())
OPENAPI: dict[str, Any] = _APP.openapi()
OPERATIONS = sorted(
    (method, path)
    for path, item in OPENAPI["paths"].items()
    for method in item
    if method in HTTP_METHODS
)
UNAUTHORIZED = {
    "type": "urn:directo-gateway:problem:unauthorized",
    "title": "Unauthorized",
    "status": 401,
    "detail": "A valid API key is required: send 'Authorization: Bearer <key>'.",
    "code": "unauthorized",
    "errors": [],
}


def path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def dummy_value(method: str, path: str, name: str) -> str:
    """A value the parameter's schema accepts: a UUID, a number, or a plain id."""
    parameters = OPENAPI["paths"][path][method].get("parameters", [])
    schema = next((p["schema"] for p in parameters if p["name"] == name), {})
    if schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    if schema.get("type") == "integer":
        return "1"
    return "dummy-1"


def fill(method: str, path: str, values: dict[str, str] | None = None) -> str:
    values = values or {}
    return re.sub(
        r"{(\w+)}", lambda match: values.get(match[1]) or dummy_value(method, path, match[1]), path
    )


# ---------------------------------------------------------------------------------------
# Auth


@pytest.fixture(scope="module")
async def anonymous(resources: Resources) -> AsyncIterator[AsyncClient]:
    """A client of the app that sends no key by default."""
    app = create_app(resources.settings)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://gw.test") as http,
    ):
        yield http


def test_every_operation_but_health_declares_the_bearer_key() -> None:
    for method, path in OPERATIONS:
        declared = OPENAPI["paths"][path][method].get("security")
        assert (declared is None) == ((method, path) in PUBLIC), (method, path)


CREDENTIALS = {
    "missing": {},
    "wrong-key": {"Authorization": "Bearer wrong-key"},
    "right-key-wrong-scheme": {"Authorization": f"Basic {API_KEY}"},
}


@pytest.mark.parametrize(
    ("method", "path"),
    [operation for operation in OPERATIONS if operation not in PUBLIC],
    ids=[f"{m.upper()} {p}" for m, p in OPERATIONS if (m, p) not in PUBLIC],
)
async def test_every_operation_refuses_a_request_without_a_valid_key(
    anonymous: AsyncClient, method: str, path: str
) -> None:
    url = fill(method, path)
    for name, headers in CREDENTIALS.items():
        response = await anonymous.request(method.upper(), url, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert problem_of(response) == UNAUTHORIZED


async def test_a_malformed_body_without_a_key_is_a_401(anonymous: AsyncClient) -> None:
    """FastAPI parses a body before it runs dependencies; the key is checked before that."""
    response = await anonymous.post(
        "/v1/companies/firm-1/webhook-endpoints",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 401
    assert problem_of(response) == UNAUTHORIZED


# ---------------------------------------------------------------------------------------
# Tenant isolation

A, B = "tenant-a", "tenant-b"
A_CLIENT = "c-a"


@dataclass(frozen=True)
class Case:
    """Company B's request for A's sub-resource: the status and code it must get."""

    method: str
    path: str
    status: int
    code: str | None
    body: dict[str, Any] | None = None
    why: str = ""


# Every /v1/companies/{company_id}/… operation with a sub-resource id must be listed here
# (the coverage test below fails otherwise), with A's id for each parameter in `a_ids`.
C = "/v1/companies/{company_id}"
CASES = [
    Case("get", C + "/clients/{client_id}/directo/connection", 404, "not_found"),
    Case("delete", C + "/clients/{client_id}/directo/connection", 404, "not_found"),
    Case("post", C + "/clients/{client_id}/directo/connection/test", 404, "not_found"),
    Case("delete", C + "/clients/{client_id}/directo/link", 404, "not_found"),
    # B has no customers: A's must not be found through B's link.
    Case(
        "put",
        C + "/clients/{client_id}/directo/link",
        422,
        "customers_not_imported",
        body={"customer_code": "{linked_code}"},
    ),
    Case("get", C + "/clients/{client_id}/directo/statistics", 404, "not_found"),
    Case("get", C + "/clients/{client_id}/directo/connection/payment-terms", 404, "not_found"),
    Case("get", C + "/clients/{client_id}/directo/sync-status", 404, "not_found"),
    # Before B has a connection for its client c-a (the last case gives it one).
    Case(
        "put",
        C + "/clients/{client_id}/directo/connection/payment-terms",
        404,
        "not_found",
        body={"codes": {"14": "N14"}},
    ),
    Case("get", C + "/directo/invoices/{export_id}", 404, "not_found"),
    Case("get", C + "/webhook-endpoints/{endpoint_id}", 404, "not_found"),
    Case("delete", C + "/webhook-endpoints/{endpoint_id}", 404, "not_found"),
    Case("get", C + "/webhook-endpoints/{endpoint_id}/deliveries", 404, "not_found"),
    # Client ids are Uku's, per company: B may give its own client c-a credentials. That
    # creates B's connection and must leave A's (same client id) as it was. Run last.
    Case(
        "put",
        C + "/clients/{client_id}/directo/connection",
        201,
        None,
        body={"token": "sandbox-token-lv"},
        why="creates B's own",
    ),
]

# Operations that take an id but are not under a company: the API key is the tenant
# boundary (one key holder, Uku's backend, serves every company) and the ids are random
# UUIDs. A new one must be added here, with its reason, or under a company with a Case.
UNSCOPED = {
    ("get", "/v1/jobs/{job_id}"): "any background job, by its random id",
    ("get", "/v1/reloads/{reload_id}"): "a reload, by its random id (as its job)",
    ("get", "/v1/jobs/{job_id}/calls"): "a job's Directo calls, by the job's random id",
    ("post", "/v1/webhook-deliveries/{delivery_id}/redeliver"): "by the delivery's random id",
}


def _takes_sub_ids(path: str) -> bool:
    return bool(set(path_params(path)) - {"company_id"})


def test_every_company_route_with_a_sub_resource_id_has_an_isolation_case() -> None:
    scoped = {
        (method, path)
        for method, path in OPERATIONS
        if path.startswith(COMPANY_PREFIX) and _takes_sub_ids(path)
    }
    assert scoped == {(case.method, case.path) for case in CASES}


def test_every_other_route_with_an_id_says_why_it_is_not_company_scoped() -> None:
    others = {
        (method, path)
        for method, path in OPERATIONS
        if not path.startswith(COMPANY_PREFIX) and path_params(path)
    }
    assert others == set(UNSCOPED)


@dataclass
class World:
    """What company A owns, as its API shows it, and the strings that would betray it."""

    a_ids: dict[str, str]
    linked_code: str
    markers: set[str] = field(default_factory=set)


async def _ok(response: Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200,)), response.text
    return response.json() if response.content else None


async def _seed(client: AsyncClient, db: Resources) -> World:
    markers: set[str] = {A}
    await _ok(
        await client.put(f"/v1/companies/{A}/directo", json={"invoice_export_enabled": True}),
        201,
    )
    await _ok(await client.put(f"/v1/companies/{B}/directo", json={}), 201)
    endpoint = await _ok(
        await client.post(
            f"/v1/companies/{A}/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/tenant-a-hook", "description": "A's receiver"},
        ),
        201,
    )
    await _ok(
        await client.post(
            f"/v1/companies/{B}/webhook-endpoints", json={"url": "http://127.0.0.1:9/b-hook"}
        ),
        201,
    )
    company = await _ok(
        await client.put(
            f"/v1/companies/{A}/directo/connection", json={"token": "sandbox-token-ee"}
        ),
        201,
    )
    own = await _ok(
        await client.put(
            f"/v1/companies/{A}/clients/{A_CLIENT}/directo/connection",
            json={"token": "sandbox-token-lv"},
        ),
        201,
    )
    await run_worker_burst(db.settings)  # imports A's customers; tries A's deliveries
    # Articles (for the export) only now: two imports of one connection side by side can
    # deadlock — each holds a key-share lock on the connection row (its rows' foreign key)
    # when the health report asks for FOR UPDATE on it.
    await _ok(
        await client.post(f"/v1/companies/{A}/directo/imports", json={"feed": "articles"}), 202
    )
    await run_worker_burst(db.settings)
    customers = await _ok(await client.get(f"/v1/companies/{A}/directo/customers"))
    first = customers["items"][0]
    await _ok(
        await client.put(
            f"/v1/companies/{A}/clients/{A_CLIENT}/directo/link",
            json={"customer_code": first["code"]},
        ),
        201,
    )
    exported = await _ok(
        await client.post(
            f"/v1/companies/{A}/directo/invoices",
            json=invoice(),  # for another client of A's: c-a's own database has other articles
            headers=key(),
        ),
        202,
    )
    async with db.sessionmaker() as session, session.begin():
        await emit(session, company_id=A, type_=EventType.INVOICE_PAID, payload={"n": 1})
    deliveries = await _ok(
        await client.get(f"/v1/companies/{A}/webhook-endpoints/{endpoint['id']}/deliveries")
    )
    assert deliveries["items"], "A needs deliveries for the test to mean anything"
    events = await _ok(await client.get(f"/v1/companies/{A}/events"))
    markers |= {endpoint["id"], endpoint["url"], "A's receiver", "tenant-a-hook"}
    markers |= {company["connection"]["id"], own["connection"]["id"]}
    markers |= {company["import_job"]["id"], own["import_job"]["id"]}
    markers |= {item["id"] for item in deliveries["items"]}
    markers |= {item["id"] for item in events["items"]}
    markers |= {item["name"] for item in customers["items"]}
    markers |= {exported["id"], exported["invoice_number"], invoice()["comment"]}
    return World(
        a_ids={"client_id": A_CLIENT, "endpoint_id": endpoint["id"], "export_id": exported["id"]},
        linked_code=first["code"],
        markers=markers,
    )


async def _snapshot(client: AsyncClient, world: World) -> dict[str, Any]:
    """A's data as A sees it (every read that a write through B could have changed)."""
    endpoint = world.a_ids["endpoint_id"]
    reads = {
        "connection": f"/v1/companies/{A}/directo/connection",
        "client connection": f"/v1/companies/{A}/clients/{A_CLIENT}/directo/connection",
        "endpoints": f"/v1/companies/{A}/webhook-endpoints",
        "endpoint": f"/v1/companies/{A}/webhook-endpoints/{endpoint}",
        "deliveries": f"/v1/companies/{A}/webhook-endpoints/{endpoint}/deliveries",
        "linked": f"/v1/companies/{A}/directo/customers?linked=true",
        "events": f"/v1/companies/{A}/events",
        "export": f"/v1/companies/{A}/directo/invoices/{world.a_ids['export_id']}",
    }
    return {name: await _ok(await client.get(url)) for name, url in reads.items()}


def _leaks(response: Response, request_text: str, markers: set[str]) -> list[str]:
    """A's strings in the response that the request itself did not carry."""
    return sorted(m for m in markers if m in response.text and m not in request_text)


@pytest.mark.slow
async def test_company_b_sees_and_touches_nothing_of_company_a(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """A owns a connection, a client with its own connection and a link, customers,
    articles, an invoice export, a webhook endpoint with deliveries, events.

    1. Every GET under /v1/companies/{company_id}, present and future, asked as B (with A's
       ids wherever an id is taken) answers without a 5xx and without a trace of A.
    2. Every case of `CASES` (B's request for A's sub-resource) gets its status and code,
       with nothing of A in the body; afterwards A's data reads exactly as before.
    3. The control: the same reads as A find what B was refused.
    """
    world = await _seed(client, db)
    before = await _snapshot(client, world)
    assert before["linked"]["items"][0]["linked_client_id"] == A_CLIENT
    problems: list[str] = []

    reads = [path for method, path in OPERATIONS if method == "get" and path.startswith("/v1/c")]
    assert len(reads) >= 10
    for path in reads:
        url = fill("get", path, {"company_id": B, **world.a_ids})
        response = await client.get(url)
        if response.status_code >= 500:
            problems.append(f"GET {url}: {response.status_code}")
        if leaked := _leaks(response, url, world.markers):
            problems.append(f"GET {url}: shows A's {leaked}")

    for case in sorted(CASES, key=lambda case: case.method == "put"):
        url = fill(case.method, case.path, {"company_id": B, **world.a_ids})
        body = case.body and {
            key: value.format(linked_code=world.linked_code) if isinstance(value, str) else value
            for key, value in case.body.items()
        }
        response = await client.request(case.method.upper(), url, json=body)
        label = f"{case.method.upper()} {url}"
        if response.status_code != case.status:
            problems.append(f"{label}: {response.status_code} {response.text}")
        elif case.code is not None and response.json().get("code") != case.code:
            problems.append(f"{label}: code {response.json().get('code')}")
        if leaked := _leaks(response, url + str(body), world.markers):
            problems.append(f"{label}: shows A's {leaked}")
    assert problems == []
    assert await _snapshot(client, world) == before

    for case in CASES:
        if case.method == "get":
            url = fill("get", case.path, {"company_id": A, **world.a_ids})
            assert (await client.get(url)).status_code == 200, url


# ---------------------------------------------------------------------------------------
# SSRF: what tests/webhooks/test_webhooks.py does not already cover (it checks literal addresses)

STRICT = make_settings(webhooks={"allow_private_targets": False, "allow_http": True}).webhooks


@pytest.mark.parametrize(
    "url",
    [
        # Numeric host forms the resolver turns into loopback or the metadata address.
        "http://2130706433/hook",
        "http://0x7f000001/hook",
        "http://017700000001/hook",
        "http://127.1/hook",
        "http://0251.0376.0251.0376/latest/meta-data",
        "http://169.254.43518/latest/meta-data",
        # IPv6 forms that carry a private IPv4 address or are not global.
        "http://[::ffff:169.254.169.254]/latest/meta-data",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[64:ff9b:1::a9fe:a9fe]/hook",
        "http://[2002:a9fe:a9fe::1]/hook",
        "http://[2002:c0a8:0101::1]/hook",
        "http://[::a9fe:a9fe]/hook",
        "http://[::ffff:0:a9fe:a9fe]/hook",
        "http://[fec0::1]/hook",
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://[fe80::a9fe:a9fe%25eth0]/hook",
        "http://[::]/hook",
        "http://[ff02::1]/hook",
    ],
)
async def test_disguised_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTargetError) as refused:
        await resolve_target(url, STRICT)
    assert refused.value.code == "url_not_public"


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "64:ff9b::5db8:d822", "2002:5db8:d822::1"]
)
async def test_public_addresses_in_the_same_forms_are_accepted(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    assert (await resolve_target(f"https://{host}/hook", STRICT)).address == address


@dataclass
class FakeDns:
    """Answers for test host names (each lookup takes the next answer; the last repeats);
    every other name goes to the real resolver. httpx resolves through the same loop
    method, so a second lookup by the HTTP client would be seen here too."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    fake = FakeDns()

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in fake.answers:
            return await real(host, port, **kwargs)
        fake.lookups.append(name)
        queue = fake.answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))
            for address in addresses
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return fake


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["fd00::5"],
        ["fe80::1"],
        ["93.184.216.34", "127.0.0.1"],  # one private answer among public ones is enough
        ["2606:4700::1111", "::ffff:10.0.0.1"],
    ],
)
@pytest.mark.slow
async def test_host_names_resolving_to_private_addresses_are_refused_at_registration(
    dns: FakeDns, db: Resources, addresses: list[str]
) -> None:
    dns.answers["hooks.customer.test"] = [addresses]
    async with _strict_client() as strict:
        endpoint = await strict.post(
            "/v1/companies/firm-1/webhook-endpoints",
            json={"url": "https://hooks.customer.test/uku"},
        )
        callback = await strict.post(
            "/v1/companies/firm-1/directo/imports",
            json={"feed": "customers", "callback_url": "https://hooks.customer.test/cb"},
        )
    for response in (endpoint, callback):
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "url_not_public"


def _strict_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks": STRICT})


@contextlib.asynccontextmanager
async def _strict_client() -> AsyncIterator[AsyncClient]:
    """The API as production runs it: private and loopback targets refused."""
    app = create_app(_strict_settings(make_settings()))
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://gw.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as http,
    ):
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def test_dns_rebinding_after_registration_is_refused_at_delivery(
    dns: FakeDns, client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    host = "rebind.customer.test"
    # Public when registered, then the name is pointed at the gateway's own loopback,
    # where something listens: the receiver.
    dns.answers[host] = [["93.184.216.34"], ["127.0.0.1"]]
    async with _strict_client() as strict:
        created = await strict.post(
            "/v1/companies/firm-1/webhook-endpoints",
            json={"url": f"http://{host}:{receiver.port}/hook"},
        )
    assert created.status_code == 201, created.text
    async with db.sessionmaker() as session, session.begin():
        await emit(session, company_id="firm-1", type_=EventType.INVOICE_PAID, payload={})
    assert await deliver_due(dataclasses.replace(db, settings=_strict_settings(db.settings))) == 1

    assert receiver.requests == []
    response = await client.get(
        f"/v1/companies/firm-1/webhook-endpoints/{created.json()['id']}/deliveries"
    )
    [delivery] = response.json()["items"]
    assert delivery["status"] == "pending"
    assert delivery["last_error"].startswith("url_not_public")
    assert "127.0.0.1" in delivery["last_error"]


async def test_a_delivery_connects_to_the_address_it_checked(
    dns: FakeDns, client: AsyncClient, db: Resources, receiver: Receiver
) -> None:
    """One lookup per attempt, and the request goes to that address with the original
    Host: an answer that changes between the check and the connection cannot redirect it
    (the second answer here points where nothing listens)."""
    host = "pinned.customer.test"
    dns.answers[host] = [["127.0.0.1"], ["127.0.0.2"]]
    created = await client.post(
        "/v1/companies/firm-1/webhook-endpoints",
        json={"url": f"http://{host}:{receiver.port}/hook"},
    )
    assert created.status_code == 201
    dns.answers[host] = [["127.0.0.1"], ["127.0.0.2"]]
    dns.lookups.clear()
    async with db.sessionmaker() as session, session.begin():
        await emit(session, company_id="firm-1", type_=EventType.INVOICE_PAID, payload={})
    assert await deliver_due(db) == 1

    [request] = receiver.requests
    assert request.headers["host"] == f"{host}:{receiver.port}"
    assert dns.lookups == [host]
