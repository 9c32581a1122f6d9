"""Fixtures for the Directo package: no Postgres or Redis, only loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from app.config import DirectoSettings
from app.directo.client import DirectoClient
from app.directo.sandbox import DatabaseSpec, SandboxState, Sizes, create_sandbox_app
from app.directo.sandbox.config import DEFAULT_TOKENS, ROUTING_MODES, ServerMode
from app.directo.sandbox.server import serve_in_thread

DATA = Path(__file__).resolve().parent.parent / "data" / "directo"
TODAY = date(2025, 6, 30)
SMALL = Sizes(
    customers=120,
    items=15,
    months=3,
    invoices_per_month=20,
    purchases_per_month=5,
    transactions_per_month=8,
)
BASE_URL = "https://directo.test"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def make_state(mode: ServerMode | None = None) -> SandboxState:
    """Two small seeded databases with the default tokens, "today" fixed at 2025-06-30."""
    return SandboxState(
        [
            DatabaseSpec(
                "demo_ee", country="EE", database_code="demo_ee", seed=1, today=TODAY, sizes=SMALL
            ),
            DatabaseSpec(
                "demo_lv", country="LV", database_code="demo_lv", seed=2, today=TODAY, sizes=SMALL
            ),
        ],
        DEFAULT_TOKENS,
        mode=mode,
    )


def fast_settings(base_url: str = BASE_URL, **overrides: object) -> DirectoSettings:
    values: dict[str, object] = {
        "base_url": base_url,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "feed_read_timeout": 5.0,
        "max_attempts": 3,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.02,
    }
    values.update(overrides)
    return DirectoSettings.model_validate(values)


@pytest.fixture
def state() -> SandboxState:
    return make_state()


@pytest.fixture
async def sandbox_http(state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to the sandbox in-process (ASGI, no socket)."""
    transport = httpx.ASGITransport(app=create_sandbox_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http


@pytest.fixture(scope="session")
def live_state() -> SandboxState:
    return make_state()


@pytest.fixture(scope="session")
def live_url(live_state: SandboxState) -> Iterator[str]:
    """The sandbox served by uvicorn on a free loopback port (one server per session)."""
    with serve_in_thread(live_state) as url:
        yield url


@pytest.fixture(params=ROUTING_MODES, ids=[f"routing-{mode}" for mode in ROUTING_MODES])
def live(request: pytest.FixtureRequest, live_state: SandboxState, live_url: str) -> SandboxState:
    """The live sandbox's state, reset before each test — once per `ServerMode.routing`:
    every client test over real HTTP runs against a server that reads routing from the
    query string or the body (``any``) and one that reads it from the query only."""
    live_state.reset()
    live_state.set_mode(ServerMode(routing=request.param))
    return live_state


@pytest.fixture
async def live_client(live: SandboxState, live_url: str) -> AsyncIterator[DirectoClient]:
    async with httpx.AsyncClient() as http:
        yield DirectoClient(http, fast_settings(live_url))
