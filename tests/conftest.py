"""Test harness: the machine's real PostgreSQL and Redis, never mocks.

Each test session creates its own uniquely named database (migrated once with alembic, as
production is) and its own Redis queue name, so concurrent runs never collide; every
table is truncated after each test that touched the database, and the session's Redis
keys and database are removed at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import text

from app.config import Settings
from app.db.admin import drop_database, ensure_database, upgrade_to_head
from app.db.base import Base
from app.directo.sandbox import SandboxState, serve_in_thread
from app.main import create_app
from app.resources import Resources, open_resources
from tests.support.event_contract import EventAudit

API_KEY = "test-api-key"
ROTATED_API_KEY = "test-api-key-rotated"
RUN_ID = uuid.uuid4().hex[:10]
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def make_settings(**overrides: object) -> Settings:
    """Settings for this test session (own database and queue), with optional overrides."""
    values: dict[str, object] = {
        "database": {"url": f"{POSTGRES_URL}/gw_test_{RUN_ID}", "pool_size": 5},
        "redis": {"url": REDIS_URL, "queue_name": f"gw-test-{RUN_ID}"},
        "api": {"keys": [SecretStr(API_KEY), SecretStr(ROTATED_API_KEY)]},
        # A closed loopback port: a test that forgets the sandbox fails fast, and no test
        # can ever reach a real Directo.
        "directo": {
            "base_url": "http://127.0.0.1:9",
            "retry_base_delay": 0.01,
            "retry_max_delay": 0.05,
            "max_attempts": 3,
            "connect_timeout": 2,
            "read_timeout": 10,
            "feed_read_timeout": 30,
        },
        "webhooks": {"allow_private_targets": True, "allow_http": True},
        "sync": {"heartbeat_seconds": 0.5},
        "log": {"format": "console", "level": "INFO"},
        # No worker /metrics unless a test asks (concurrent test runs would share a port).
        "worker": {"metrics_port": 0},
    }
    values.update(overrides)
    return Settings.model_validate(values)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, saying how to fix it, if PostgreSQL or Redis is not running."""
    from app.preflight import dependency_problems

    problems = asyncio.run(dependency_problems(make_settings()))
    if problems:
        pytest.exit("\n".join(["the tests need the real services:", *problems]), returncode=2)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[tuple[SandboxState, str]]:
    """The Directo sandbox over real HTTP on loopback, for the whole session."""
    state = SandboxState()
    with serve_in_thread(state) as url:
        yield state, url


@pytest.fixture
def sandbox(sandbox_server: tuple[SandboxState, str]) -> Iterator[SandboxState]:
    """The sandbox, reset to its seeded data after the test."""
    state, _ = sandbox_server
    yield state
    state.reset()


@pytest.fixture(scope="session")
def settings(sandbox_server: tuple[SandboxState, str]) -> Settings:
    directo = make_settings().directo.model_dump() | {"base_url": sandbox_server[1]}
    return make_settings(directo=directo)


@pytest.fixture(scope="session")
async def migrated_database(settings: Settings) -> AsyncIterator[str]:
    url = settings.database.url
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(upgrade_to_head, url)
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def resources(settings: Settings, migrated_database: str) -> AsyncIterator[Resources]:
    async with open_resources(settings) as opened:
        yield opened
    await _delete_redis_keys(settings)


async def _delete_redis_keys(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis.url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"*{settings.redis.queue_name}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture(scope="session")
def event_audit(settings: Settings) -> EventAudit:
    return EventAudit(settings)


@pytest.fixture
async def db(resources: Resources, event_audit: EventAudit) -> AsyncIterator[Resources]:
    """Resources with a clean database and queue after the test; the events the gateway
    emitted during it must match their webhook schemas (tests/support/event_contract.py)."""
    await event_audit.start(resources)
    yield resources
    try:
        await event_audit.check(resources)
    finally:
        await _truncate(resources)


async def _truncate(resources: Resources) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with resources.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await _delete_redis_keys(resources.settings)


@pytest.fixture
async def client(db: Resources) -> AsyncIterator[AsyncClient]:
    """An authenticated API client over ASGI, on the session's resources."""
    app = create_app(db.settings)
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(
            transport=transport,
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as http:
            yield http
