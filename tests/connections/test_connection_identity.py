"""Replacing a token never silently switches the Directo database: a token of another
database is refused (409 `directo_database_changed`), and so is one that fails its test and
so cannot be checked (409 `directo_database_unverified`, even with `force`); a switch made
on purpose (`switch_database`) retires the connection with what was imported and linked
through it, so the two databases' books never mix. Through the API and a real worker,
against the sandbox's two databases."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.connections.identity import SAMPLE_SIZE
from app.db.models import Connection, DirectoCustomer
from app.db.repositories import connections as connection_repo
from app.directo.sandbox import SandboxState, TokenSpec
from app.resources import Resources
from app.sync.refresh import start_due_refreshes
from tests.support.helpers import run_worker_burst

COMPANY = "switching-firm"
BASE = f"/v1/companies/{COMPANY}/directo"


async def connected_with_imports(client: AsyncClient, db: Resources) -> dict[str, Any]:
    """demo_ee connected, its customers imported, client c-1 linked to K000001."""
    assert (await client.put(BASE, json={})).status_code == 201
    connected = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert connected.status_code == 201, connected.text
    await run_worker_burst(db.settings)
    linked = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000001"}
    )
    assert linked.status_code == 201, linked.text
    return dict(connected.json()["connection"])


async def customer_names(client: AsyncClient, *codes: str) -> dict[str, tuple[str, str | None]]:
    page = (await client.get(f"{BASE}/customers", params={"limit": 500})).json()
    return {
        item["code"]: (item["name"], item["linked_client_id"])
        for item in page["items"]
        if item["code"] in codes
    }


@pytest.mark.slow
async def test_a_token_of_another_database_is_refused_and_changes_nothing(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    before = await connected_with_imports(client, db)
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-lv"})
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["code"] == "directo_database_changed"
    assert "only 0 of 5 customers" in problem["detail"]
    assert '"switch_database": true' in problem["detail"]
    assert len(problem["errors"]) == 5
    latvian = sandbox.database("demo_lv")
    for item in problem["errors"]:
        code = item["loc"][-1]
        stored = sandbox.database("demo_ee").customer(code)
        found = latvian.customer(code)
        assert stored is not None
        assert item["code"] == ("customer_differs" if found else "customer_absent")
        assert repr(stored[0]["name"]) in item["message"]
    after = (await client.get(f"{BASE}/connection")).json()
    assert (after["id"], after["token_hint"]) == (before["id"], "n-ee")
    assert "sandbox-token-lv" not in response.text


@pytest.mark.slow
async def test_another_token_of_the_same_database_is_accepted_in_place(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    before = await connected_with_imports(client, db)
    sandbox.add_token(TokenSpec("sandbox-token-ee-second", "demo_ee"))
    async with db.sessionmaker() as session:
        sample = await connection_repo.sample_customers(
            session, uuid.UUID(before["id"]), limit=SAMPLE_SIZE
        )
    # Since the import, one sampled customer was deleted and one renamed: still the same.
    database = sandbox.database("demo_ee")
    database.delete_customer(sample[0][0])
    database.upsert_customer(sample[1][0], {"name": "Ümber nimetatud OÜ"})
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee-second"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["connection"]["id"], body["replaced"]) == (before["id"], None)
    assert body["connection"]["token_hint"] == "cond"
    assert (await customer_names(client, "K000001"))["K000001"][1] == "c-1"  # link kept


@pytest.mark.slow
async def test_a_deliberate_switch_retires_the_old_database_and_never_mixes_the_two(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    before = await connected_with_imports(client, db)
    estonian = (await customer_names(client, "K000001"))["K000001"]
    assert estonian[1] == "c-1"
    # `force` is about storing a failing token; it does not switch databases.
    forced = await client.put(
        f"{BASE}/connection", json={"token": "sandbox-token-lv", "force": True}
    )
    assert (forced.status_code, forced.json()["code"]) == (409, "directo_database_changed")
    response = await client.put(
        f"{BASE}/connection", json={"token": "sandbox-token-lv", "switch_database": True}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["connection"]["id"] != before["id"]
    assert body["replaced"]["connection_id"] == before["id"]
    assert body["replaced"]["links_removed"] == [{"client_id": "c-1", "customer_code": "K000001"}]
    assert body["import_job"]["kind"] == "customers_import"
    await run_worker_burst(db.settings)

    latvian = sandbox.database("demo_lv").customer("K000001")
    assert latvian is not None
    # The preview lists the new database's customers only, none linked.
    assert (await customer_names(client, "K000001"))["K000001"] == (latvian[0]["name"], None)
    assert latvian[0]["name"] != estonian[0]
    async with db.sessionmaker() as session:
        retired = await session.get(Connection, uuid.UUID(before["id"]))
        per_connection = dict(
            (
                await session.execute(
                    select(DirectoCustomer.connection_id, func.count()).group_by(
                        DirectoCustomer.connection_id
                    )
                )
            ).all()
        )
    assert retired is not None
    assert retired.retired_at is not None
    assert str(retired.replaced_by_id) == body["connection"]["id"]
    # The previous database's customers stay with the retired connection, apart.
    assert {str(key): value for key, value in per_connection.items()} == {
        before["id"]: 500,
        body["connection"]["id"]: 500,
    }
    # No scheduled work uses the retired connection again.
    async with db.sessionmaker() as session, session.begin():
        due = await start_due_refreshes(
            session,
            now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
            interval=dt.timedelta(hours=6),
        )
    assert {str(job.connection_id) for job in due} == {body["connection"]["id"]}
    relinked = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000002"}
    )
    assert relinked.status_code == 201, relinked.text
    # Switching back is checked against the new database now: refused unless forced.
    back = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert (back.status_code, back.json()["code"]) == (409, "directo_database_changed")


@pytest.mark.slow
async def test_a_client_connection_is_checked_too(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    assert (await client.put(BASE, json={})).status_code == 201
    path = f"/v1/companies/{COMPANY}/clients/own/directo/connection"
    assert (await client.put(path, json={"token": "sandbox-token-lv"})).status_code == 201
    await run_worker_burst(db.settings)
    refused = await client.put(path, json={"token": "sandbox-token-ee"})
    assert (refused.status_code, refused.json()["code"]) == (409, "directo_database_changed")
    assert "client 'own'" in refused.json()["detail"]


@pytest.mark.slow
async def test_a_failing_token_cannot_be_forced_onto_a_connection_with_imports(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """A token of another database that fails its test for now cannot be compared: stored
    in place, the next refresh after its access is fixed would import the other firm's
    customers into this connection. Refused, whatever `force` says."""
    before = await connected_with_imports(client, db)
    sandbox.add_token(TokenSpec("sandbox-token-lv-later", "demo_lv", revoked=True))
    body = {"token": "sandbox-token-lv-later", "force": True}
    response = await client.put(f"{BASE}/connection", json=body)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["code"] == "directo_database_unverified"
    assert problem["detail"] == (
        "The new token failed its connection test (unauthorized; errors says what to fix), so "
        "which Directo database it reaches cannot be checked against the one the company is "
        "connected to, whose customers, links or exports are stored here. It is not stored, "
        'even with "force": true. Fix the token\'s access first and send it again (it is then '
        "checked against the stored customers); or, to connect another Directo database "
        'deliberately, send it with "force": true and "switch_database": true: the previous '
        "database's customers, articles and exports are then kept apart with the retired "
        "connection, its client links are removed, and a new connection starts from the new "
        "database."
    )
    assert [(item["code"], item["loc"]) for item in problem["errors"]][:2] == [
        ("unauthorized", ["capabilities", "customers_out"]),
        ("unauthorized", ["capabilities", "articles_out"]),
    ]
    assert "sandbox-token-lv-later" not in response.text
    after = (await client.get(f"{BASE}/connection")).json()
    assert (after["id"], after["token_hint"], after["health"]) == (before["id"], "n-ee", "ok")

    # Once its access works, the same token is checked, and found to be another database's.
    sandbox.add_token(TokenSpec("sandbox-token-lv-later", "demo_lv"))
    checked = await client.put(f"{BASE}/connection", json=body)
    assert (checked.status_code, checked.json()["code"]) == (409, "directo_database_changed")


@pytest.mark.slow
async def test_a_failing_token_switches_databases_only_on_purpose(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    before = await connected_with_imports(client, db)
    sandbox.add_token(TokenSpec("sandbox-token-lv-later", "demo_lv", revoked=True))
    switched = await client.put(
        f"{BASE}/connection",
        json={"token": "sandbox-token-lv-later", "force": True, "switch_database": True},
    )
    assert switched.status_code == 201, switched.text
    body = switched.json()
    assert body["replaced"]["connection_id"] == before["id"]
    assert body["replaced"]["links_removed"] == [{"client_id": "c-1", "customer_code": "K000001"}]
    assert (body["connection"]["health"], body["import_job"]) == ("needs_attention", None)
    async with db.sessionmaker() as session:
        counts = dict(
            (
                await session.execute(
                    select(DirectoCustomer.connection_id, func.count()).group_by(
                        DirectoCustomer.connection_id
                    )
                )
            ).all()
        )
    assert {str(key): value for key, value in counts.items()} == {before["id"]: 500}


async def test_a_failing_token_is_still_stored_in_place_where_nothing_would_mix(
    client: AsyncClient, sandbox: SandboxState
) -> None:
    """Nothing imported, linked or exported yet: `force` keeps storing a failing token."""
    assert (await client.put(BASE, json={})).status_code == 201
    first = await client.put(
        f"{BASE}/connection", json={"token": "sandbox-token-revoked", "force": True}
    )
    assert first.status_code == 201, first.text
    sandbox.add_token(TokenSpec("sandbox-token-lv-later", "demo_lv", revoked=True))
    again = await client.put(
        f"{BASE}/connection", json={"token": "sandbox-token-lv-later", "force": True}
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert (body["connection"]["id"], body["replaced"]) == (first.json()["connection"]["id"], None)
    assert (body["connection"]["token_hint"], body["connection"]["health"]) == (
        "ater",
        "needs_attention",
    )
