"""Dependency outages while the app runs: PostgreSQL going away and coming back.

The outage is made on this test session's own database only — every connection to it is
terminated and new ones are refused (what a restart looks like to the app), then allowed
again — so other databases on the server are not disturbed.
"""

from __future__ import annotations

import asyncio

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.resources import Resources
from tests.conftest import API_KEY
from tests.support.helpers import run_worker_burst
from tests.support.waiting import wait_until


async def _set_database_open(db: Resources, *, open_: bool) -> None:
    name = db.engine.url.database
    server = make_url(db.settings.database.url).set(database="postgres")
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            allow = "true" if open_ else "false"
            await connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allow}'))
            if not open_:
                await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
    finally:
        await admin.dispose()


async def _backends_gone(db: Resources) -> bool:
    """True once the server holds no backend of the session's database (ours closed)."""
    server = make_url(db.settings.database.url).set(database="postgres")
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            count = await connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                {"name": db.engine.url.database},
            )
    finally:
        await admin.dispose()
    return count == 0


@pytest.mark.slow
async def test_api_is_not_ready_during_a_database_outage_and_recovers_by_itself(
    client: AsyncClient, db: Resources
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    await _set_database_open(db, open_=False)
    try:
        during = await client.get("/readyz")
        assert during.status_code == 503
        assert [item["code"] for item in during.json()["errors"]] == ["postgres_unavailable"]
        job = await client.post("/v1/diagnostics/ping")
        assert job.status_code == 503
        assert job.headers["content-type"].startswith("application/problem+json")
        assert job.json()["code"] in {"database_unavailable", "dependency_unavailable"}
        assert job.headers["retry-after"] == "5"
    finally:
        await _set_database_open(db, open_=True)

    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await wait_until(ready, what="the API to be ready again", interval=0.2)
    # Same app, same pool: work flows again end to end.
    job = await client.post("/v1/diagnostics/ping")
    assert job.status_code == 202, job.text
    await run_worker_burst(db.settings)
    assert (await client.get(f"/v1/jobs/{job.json()['id']}")).json()["status"] == "succeeded"


async def test_connections_the_server_closed_are_never_handed_out(
    client: AsyncClient, db: Resources
) -> None:
    """After a restart every pooled connection is dead; the first request must not see one,
    neither on the units of work's pool nor on the list routes' reader pool."""
    preview = "/v1/companies/no-such-firm/directo/customers"  # 404 once the query has run

    async def requests() -> list[int]:
        answers = await asyncio.gather(
            *(client.get("/readyz") for _ in range(6)), *(client.get(preview) for _ in range(6))
        )
        return [answer.status_code for answer in answers]

    assert await requests() == [200] * 6 + [404] * 6  # both pools hold idle connections
    await _set_database_open(db, open_=False)  # terminates every backend
    await _set_database_open(db, open_=True)
    await wait_until(lambda: _backends_gone(db), what="the server to close every backend")
    assert await requests() == [200] * 6 + [404] * 6
    job = await client.post("/v1/diagnostics/ping")
    assert job.status_code == 202, job.text


async def test_every_kind_of_route_answers_an_outage_as_503_with_retry_after(
    client: AsyncClient, db: Resources
) -> None:
    """The read pool's list routes, a unit of work's read and a write: each refused
    connection is `database_unavailable` (not a 500 now that only data errors are 4xx)."""
    company = "/v1/companies/outage-firm"
    assert (await client.put(f"{company}/directo", json={})).status_code == 201
    await _set_database_open(db, open_=False)
    try:
        answers = [
            await client.get(f"{company}/directo/customers"),
            await client.get(f"{company}/directo/invoices"),
            await client.put(f"{company}/directo", json={"auto_confirm_invoices": True}),
        ]
    finally:
        await _set_database_open(db, open_=True)
    assert [(a.status_code, a.json()["code"], a.headers["retry-after"]) for a in answers] == [
        (503, "database_unavailable", "5")
    ] * 3


async def test_a_statement_cut_by_the_timeout_is_database_busy_not_an_outage(
    db: Resources,
) -> None:
    """A lock held elsewhere outlasts `statement_timeout`: the database is up, so 503
    `database_busy` (retry), not `database_unavailable`."""
    database = db.settings.database.model_copy(update={"statement_timeout_ms": 200})
    app = create_app(db.settings.model_copy(update={"database": database}))
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://gw.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as http,
        db.engine.connect() as holder,
    ):
        async with holder.begin():
            await holder.execute(text("LOCK TABLE integrations IN ACCESS EXCLUSIVE MODE"))
            busy = await http.get("/v1/companies/busy-firm/directo")
        after = await http.get("/v1/companies/busy-firm/directo")
    assert (busy.status_code, busy.json()["code"], busy.headers["retry-after"]) == (
        503,
        "database_busy",
        "5",
    )
    assert (after.status_code, after.json()["code"]) == (404, "not_found")
