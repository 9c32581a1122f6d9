"""Customers, import preview, links and articles — through the API and a real worker,
against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import unicodedata
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.db.models import (
    DirectoArticle,
    DirectoCustomer,
    Job,
    Reload,
    SyncWatermark,
)
from app.db.repositories import catalog as catalog_repo
from app.directo.errors import DirectoDecodeError
from app.directo.sandbox import Faults, SandboxState
from app.directo.schemas import DirectoCustomer as CustomerRecord
from app.queue.names import JobName
from app.resources import Resources
from app.sync.catalogue_rows import CUSTOMER_COLUMNS, fold
from app.sync.read_ahead import read_ahead
from app.sync.refresh import start_due_refreshes
from app.sync.schemas import Address, ArticleOut, Contact, CustomerOut
from tests.support.catalogue import BASE, COMPANY, all_customers, bare_connection
from tests.support.catalogue_reference import canonical_json, customer_record
from tests.support.helpers import run_worker_burst


async def connected(client: AsyncClient, db: Resources) -> dict[str, Any]:
    """Enable, connect to demo_ee, and run the first customer import to the end."""
    await client.put(BASE, json={})
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert response.status_code == 201, response.text
    await run_worker_burst(db.settings)
    job = (await client.get(f"/v1/jobs/{response.json()['import_job']['id']}")).json()
    assert job["status"] == "succeeded", job
    return dict(job)


async def run_import(client: AsyncClient, db: Resources, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{BASE}/imports", json={"feed": "customers", **body})
    assert response.status_code == 202, response.text
    await run_worker_burst(db.settings)
    return dict((await client.get(f"/v1/jobs/{response.json()['id']}")).json())


@pytest.mark.slow
async def test_preview_lists_imported_customers_closed_hidden_by_default(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    first = await connected(client, db)
    assert first["counts"] == {
        "read": 500,
        "added": 500,
        "updated": 0,
        "unchanged": 0,
        "marked_missing": 0,
    }
    everyone = await all_customers(client, include_closed=True)
    visible = await all_customers(client)
    assert len(everyone) == 500
    assert len({item["code"] for item in everyone}) == 500
    closed = [item for item in everyone if item["closed"]]
    assert closed  # the sandbox seeds some
    assert len(visible) == 500 - len(closed)
    assert all(not item["closed"] for item in visible)
    assert [item["code"] for item in everyone] == sorted(item["code"] for item in everyone)
    sample = next(item for item in everyone if item["code"] == "K000001")
    seeded = sandbox.database("demo_ee").customer("K000001")
    assert seeded is not None
    assert sample["name"] == seeded[0]["name"]
    assert sample["address"]["address1"] == seeded[0]["address1"]
    assert sample["contact"] == {
        "name": seeded[0]["contact"],
        "email": seeded[0]["email"],
        "phone": seeded[0]["phone"],
    }
    assert sample["linked_client_id"] is None


@pytest.mark.slow
async def test_search_ignores_case_and_accents(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    sandbox.database("demo_ee").upsert_customer(
        "K999001", {"name": "Õunapuu Ärikeskus OÜ", "regno": "10203040"}
    )
    await connected(client, db)
    for term in ("Ounapuu", "õunapuu", "ÕUNAPUU ÄRIK", "10203040", "k999001"):
        found = (await client.get(f"{BASE}/customers", params={"search": term})).json()["items"]
        assert "K999001" in [item["code"] for item in found], term
        folded = fold(term)
        for item in found:  # every hit really contains the term, accents and case aside
            haystack = fold(
                " ".join(
                    filter(
                        None,
                        (item["name"], item["code"], item["registration_code"], item["vat_number"]),
                    )
                )
            )
            assert folded in haystack, (term, item)
    assert (await client.get(f"{BASE}/customers", params={"search": "100%_"})).json()["items"] == []


@pytest.mark.slow
async def test_linking_relinking_and_their_errors(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await client.put(BASE, json={})
    before_import = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000001"}
    )
    assert (before_import.status_code, before_import.json()["code"]) == (
        422,
        "customers_not_imported",
    )
    await connected(client, db)

    link = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link",
        json={"customer_code": "K000001", "country": "LV"},
    )
    assert link.status_code == 201, link.text
    assert (link.json()["customer_code"], link.json()["reload_id"]) == ("K000001", None)
    unknown = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "NOPE"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "customer_code_unknown")
    taken = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-2/directo/link", json={"customer_code": "K000001"}
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "customer_already_linked")
    assert "'c-1'" in taken.json()["detail"]

    linked = (await client.get(f"{BASE}/customers", params={"linked": "true"})).json()["items"]
    assert [(item["code"], item["linked_client_id"]) for item in linked] == [("K000001", "c-1")]
    unlinked = await all_customers(client, linked="false")
    assert "K000001" not in {item["code"] for item in unlinked}

    same = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000001"}
    )
    assert (same.status_code, same.json()["reload_id"]) == (200, None)
    await client.put(
        f"{BASE}/summary-settings",
        json={
            "task_title": "Kuu kokkuvõte",
            "import_day": {"rule": "last_work_day"},
            "field_mapping": {"sales_invoices": "uku-1"},
        },
    )
    relinked = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000002"}
    )
    assert relinked.status_code == 200
    assert relinked.json()["reload_id"] is not None
    async with db.sessionmaker() as session:
        reload = await session.get(Reload, relinked.json()["reload_id"])
    assert reload is not None
    assert (reload.reason, reload.months, reload.clients_total) == ("relinked", 12, 1)

    assert (
        await client.delete(f"/v1/companies/{COMPANY}/clients/c-1/directo/link")
    ).status_code == 204
    assert (
        await client.delete(f"/v1/companies/{COMPANY}/clients/c-1/directo/link")
    ).status_code == 404


@pytest.mark.slow
async def test_incremental_import_picks_up_one_changed_customer_and_nothing_else(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    sandbox.database("demo_ee").upsert_customer("K000007", {"name": "Muudetud Nimi AS"})
    job = await run_import(client, db)
    assert job["status"] == "succeeded"
    assert job["result"]["full"] is False
    assert (job["counts"]["added"], job["counts"]["updated"], job["counts"]["marked_missing"]) == (
        0,
        1,
        0,
    )
    assert job["counts"]["read"] < 500  # only the overlap window and the change were read
    changed = (await client.get(f"{BASE}/customers", params={"search": "Muudetud"})).json()["items"]
    assert [item["code"] for item in changed] == ["K000007"]
    again = await run_import(client, db)
    assert (again["counts"]["added"], again["counts"]["updated"]) == (0, 0)


@pytest.mark.slow
async def test_full_import_marks_a_removed_customer_and_unmarks_it_when_back(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    database = sandbox.database("demo_ee")
    kept = database.customer("K000003")
    assert kept is not None
    database.delete_customer("K000003")
    job = await run_import(client, db, full=True)
    assert job["counts"]["marked_missing"] == 1
    gone = next(
        item
        for item in await all_customers(client, include_closed=True)
        if item["code"] == "K000003"
    )
    assert gone["missing_since"] is not None
    database.upsert_customer("K000003", kept[0])
    back = await run_import(client, db, full=True)
    assert (back["counts"]["marked_missing"], back["counts"]["updated"]) == (0, 1)
    again = next(
        item
        for item in await all_customers(client, include_closed=True)
        if item["code"] == "K000003"
    )
    assert again["missing_since"] is None


@pytest.mark.slow
async def test_list_pages_answer_exactly_what_their_response_models_would(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """The list routes write their JSON without the models: it must be the same JSON."""
    await connected(client, db)
    database = sandbox.database("demo_ee")
    database.delete_customer("K000003")
    await run_import(client, db, full=True)  # K000003 gets a missing_since
    linked = await client.put(
        f"/v1/companies/{COMPANY}/clients/c-1/directo/link", json={"customer_code": "K000002"}
    )
    assert linked.status_code == 201, linked.text
    articles = await client.post(f"{BASE}/imports", json={"feed": "articles"})
    assert articles.status_code == 202, articles.text
    await run_worker_burst(db.settings)

    preview = await all_customers(client, include_closed=True)
    async with db.sessionmaker() as session:
        rows = {row.code: row for row in await session.scalars(select(DirectoCustomer))}
        stored_articles = {row.code: row for row in await session.scalars(select(DirectoArticle))}
    assert len(preview) == len(rows) == 500
    for item in preview:
        linked_to = "c-1" if item["code"] == "K000002" else None
        row = rows[item["code"]]
        expected = CustomerOut(
            code=row.code,
            name=row.name,
            registration_code=row.regno or None,
            vat_number=row.vatregno or None,
            address=Address(
                address1=row.address1,
                address2=row.address2,
                address3=row.address3,
                county=row.county,
                country=row.country,
            ),
            contact=Contact(name=row.contact, email=row.email, phone=row.phone),
            closed=row.closed,
            missing_since=row.missing_since,
            linked_client_id=linked_to,
        )
        assert item == expected.model_dump(mode="json")
    assert any(item["missing_since"] for item in preview)

    listed = (await client.get(f"{BASE}/articles", params={"include_closed": True})).json()
    assert listed["items"]
    for item in listed["items"]:
        row = stored_articles[item["code"]]
        model = ArticleOut.model_validate(row, from_attributes=True)
        assert item == model.model_dump(mode="json")


@pytest.mark.slow
async def test_a_truncated_feed_leaves_data_and_watermark_unchanged(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    async with db.sessionmaker() as session:
        before = await session.scalar(select(SyncWatermark))
    assert before is not None
    database = sandbox.database("demo_ee")
    database.upsert_customer("K000009", {"name": "Peaks jääma nägemata"})
    database.set_faults(Faults(truncate_rate=1.0))
    job = await run_import(client, db, full=True)
    assert job["status"] == "failed"
    assert job["errors"][-1]["code"] == "truncated_response"
    assert job["attempts"] == 3  # retried, bounded
    async with db.sessionmaker() as session:
        after = await session.scalar(select(SyncWatermark))
    assert after is not None
    assert (after.watermark_ts, after.last_run_at) == (before.watermark_ts, before.last_run_at)
    assert (await client.get(f"{BASE}/customers", params={"search": "nägemata"})).json()[
        "items"
    ] == []


@pytest.mark.slow
async def test_a_second_import_request_returns_the_running_one(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    first = (await client.post(f"{BASE}/imports", json={"feed": "articles"})).json()
    second = (await client.post(f"{BASE}/imports", json={"feed": "articles", "full": True})).json()
    assert first["id"] == second["id"]
    await run_worker_burst(db.settings)
    articles = (await client.get(f"{BASE}/articles", params={"limit": 500})).json()["items"]
    assert articles
    assert all(not article["closed"] for article in articles)
    everything = (
        await client.get(f"{BASE}/articles", params={"limit": 500, "include_closed": True})
    ).json()["items"]
    assert len(everything) == 60
    third = (await client.post(f"{BASE}/imports", json={"feed": "articles"})).json()
    assert third["id"] != first["id"]  # the first one finished


@pytest.mark.slow
async def test_scheduled_refresh_starts_due_imports_once(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connected(client, db)
    interval = dt.timedelta(hours=6)
    now = dt.datetime.now(dt.UTC)
    async with db.sessionmaker() as session, session.begin():
        started = await start_due_refreshes(session, now=now, interval=interval)
    assert [job.kind for job in started] == ["articles_import"]  # customers ran just now
    async with db.sessionmaker() as session, session.begin():
        assert await start_due_refreshes(session, now=now, interval=interval) == []  # single flight
    later = now + interval * 1.2
    for job in started:  # what the cron does after starting them
        await db.queue.enqueue(JobName(job.kind), job.id)
    await run_worker_burst(db.settings)
    async with db.sessionmaker() as session, session.begin():
        due_later = await start_due_refreshes(session, now=later, interval=interval)
    assert sorted(job.kind for job in due_later) == ["articles_import", "customers_import"]
    await client.delete(BASE)  # disabling stops scheduled work
    async with db.sessionmaker() as session:
        jobs = (await session.execute(select(Job).where(Job.status == "queued"))).scalars().all()
        for job in jobs:
            await session.delete(job)
        await session.commit()
    async with db.sessionmaker() as session, session.begin():
        assert await start_due_refreshes(session, now=later, interval=interval) == []


# -- the import's parts, one by one ------------------------------------------------------

# Text as XML can carry it: any character but a lone surrogate.
xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
attributes = st.dictionaries(xml_text.filter(bool), xml_text, max_size=6)


@given(attrs=attributes, fields=st.lists(attributes, max_size=3))
def test_canonical_json_is_the_sorted_compact_utf8_json_of_the_raw_attributes(
    attrs: dict[str, str], fields: list[dict[str, str]]
) -> None:
    record = CustomerRecord.model_validate(
        {"code": "K1", "raw": attrs, "datafields": [{"raw": field} for field in fields]}
    )
    document: dict[str, Any] = dict(attrs)
    if fields:
        document["datafields"] = fields
    # What the content hashes stored so far were taken of: they must stay valid.
    expected = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert canonical_json(record) == expected.encode()


_MARKS = dict.fromkeys(range(0x0300, 0x0370))


@given(text=xml_text)
def test_fold_is_casefold_then_nfkd_without_combining_marks(text: str) -> None:
    expected = unicodedata.normalize("NFKD", text.casefold()).translate(_MARKS)
    assert fold(text) == expected


async def test_read_ahead_hands_over_every_batch_then_the_source_error() -> None:
    async def source() -> AsyncGenerator[list[Any], None]:
        yield [1]
        yield [2]
        raise DirectoDecodeError("the XML ended early")

    got: list[list[Any]] = []

    async def consume() -> None:
        async for batch in read_ahead(source(), depth=1):
            got.append(batch)

    with pytest.raises(DirectoDecodeError):
        await consume()
    assert got == [[1], [2]]


async def test_closing_read_ahead_early_closes_its_source() -> None:
    closed = asyncio.Event()

    async def source() -> AsyncGenerator[list[Any], None]:
        try:
            for number in itertools.count():
                yield [number]
        finally:
            closed.set()

    async with contextlib.aclosing(read_ahead(source(), depth=2)) as batches:
        async for batch in batches:
            assert batch == [0]
            break
    assert closed.is_set()


def customer(connection_id: uuid.UUID, code: str, name: str) -> tuple[Any, ...]:
    record = CustomerRecord.model_validate(
        {"code": code, "name": name, "raw": {"code": code, "name": name}}
    )
    return customer_record(record, connection_id)


async def test_the_writer_adds_new_updates_changed_and_missing_and_skips_unchanged(
    db: Resources,
) -> None:
    connection_id = await bare_connection(db)
    first = [customer(connection_id, f"W{n}", f"Nimi {n}") for n in range(3)]

    async def write(*batches: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
        async with db.sessionmaker() as session, session.begin():
            writer = await catalog_repo.open_writer(
                session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
            )
            return [await writer.write(batch) for batch in batches]

    renamed = customer(connection_id, "W1", "Õunapuu Uus")
    added = customer(connection_id, "W9", "Üheksas")
    # A later batch of the same import sees what an earlier one wrote.
    assert await write(first, [first[0], renamed, added]) == [(3, 0), (1, 1)]
    async with db.sessionmaker() as session, session.begin():
        gone = await catalog_repo.mark_missing(
            session,
            DirectoCustomer,
            connection_id,
            seen=["W0", "W1", "W9"],
            at=dt.datetime.now(dt.UTC),
        )
    assert gone == 1
    # W2 is back unchanged (so unmarked: updated); W0 is unchanged; nothing is new.
    assert await write([first[2], first[0]]) == [(0, 1)]
    assert await write([]) == [(0, 0)]

    async with db.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(DirectoCustomer)
                .where(DirectoCustomer.connection_id == connection_id)
                .order_by(DirectoCustomer.code)
            )
        ).all()
    assert [(row.code, row.name, row.search_text, row.missing_since) for row in rows] == [
        ("W0", "Nimi 0", "nimi 0 w0", None),
        ("W1", "Õunapuu Uus", "ounapuu uus w1", None),
        ("W2", "Nimi 2", "nimi 2 w2", None),
        ("W9", "Üheksas", "uheksas w9", None),
    ]
    w1 = rows[1]
    assert w1.raw == {"code": "W1", "name": "Õunapuu Uus"}  # stored as a JSON object
    canonical = json.dumps(w1.raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert w1.content_hash == hashlib.sha256(canonical.encode()).digest()
    assert w1.updated_at is not None
    assert rows[0].updated_at is None  # unchanged since it was added


async def test_the_writer_refuses_a_code_twice_in_one_batch(db: Resources) -> None:
    connection_id = await bare_connection(db)
    twice = [customer(connection_id, "W1", "Üks"), customer(connection_id, "W1", "Kaks")]
    async with db.sessionmaker() as session:  # closed unfinished: rolled back
        writer = await catalog_repo.open_writer(
            session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await writer.write(twice)
