"""Dependency outages while the app runs: PostgreSQL going away and coming back.

The outage is made on this test session's own database only — every connection to it is
terminated and new ones are refused (what a restart looks like to the app), then allowed
again — so other databases on the server are not disturbed.
"""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.resources import Resources
from tests.helpers import run_worker_burst


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

    async with asyncio.timeout(30):
        while (await client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.2)
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
    await asyncio.sleep(0.2)  # the pooled sockets see the server's close
    assert await requests() == [200] * 6 + [404] * 6
    job = await client.post("/v1/diagnostics/ping")
    assert job.status_code == 202, job.text
