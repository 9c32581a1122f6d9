"""The catalogue import's rows, built straight from the parser's attribute dicts, against the
rows built from the feed's models; and the writer's first-import path.

`customer_rows` / `article_rows` (the import's path) must give exactly what `customer_record`
/ `article_record` give for the model of the same record — every column, the canonical JSON
and its hash included — and refuse exactly the records the model builder refuses, with the
same error. `feeds.reader` must do what the model builder does for any feed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from httpx import AsyncClient
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select, text

from app.db.models import DirectoCustomer, SyncWatermark
from app.db.repositories import catalog as catalog_repo
from app.directo import codec, feeds, values
from app.directo.client import DirectoClient
from app.directo.errors import DirectoDecodeError, DirectoTruncatedError
from app.directo.sandbox import SandboxState
from app.resources import Resources
from app.sync import catalogue
from app.sync.catalogue_rows import (
    ARTICLE_COLUMNS,
    CUSTOMER_COLUMNS,
    article_rows,
    customer_rows,
)
from tests.support.catalogue import BASE, all_customers, bare_connection
from tests.support.catalogue_reference import article_record, customer_record
from tests.support.helpers import run_worker_burst

CONNECTION = uuid.UUID("00000000-0000-4000-8000-000000000001")

# Text as XML can carry it: any character but a lone surrogate.
xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
moments = st.one_of(
    st.just(""),
    st.datetimes(min_value=dt.datetime(1900, 1, 1)).map(lambda d: d.isoformat(timespec="seconds")),
    st.datetimes(min_value=dt.datetime(1900, 1, 1)).map(lambda d: d.strftime("%d.%m.%Y %H:%M")),
    st.dates().map(lambda d: d.strftime("%d.%m.%Y")),
    # With a zone offset: both paths convert it to Directo's local time.
    st.datetimes(
        min_value=dt.datetime(1900, 1, 2),
        timezones=st.sampled_from([dt.UTC, ZoneInfo("Asia/Tokyo")]),
    ).map(lambda d: d.isoformat(timespec="seconds")),
    st.sampled_from(["2025-13-01", "31.02.2025", "1.2", "yesterday", "10.03.2025 8", "."]),
    xml_text,
)
decimals = st.one_of(
    st.just(""),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["NaN", "-Infinity", "sNaN", "1,5", "1e400000", " 2", "abc"]),
    xml_text,
)
flags = st.sampled_from(["", "0", "1", "01", "true", " 1"])
# Every attribute the models or the rows read, then some they do not.
NAMED = (
    "code", "name", "regno", "vatregno", "address1", "address2", "address3", "county",
    "country", "contact", "email", "phone", "payterm", "salesman", "currency", "unit",
    "class", "vatcode", "datafields",
)  # fmt: skip


def attribute_dicts(typed: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            **{name: st.one_of(st.just(""), xml_text) for name in NAMED},
            **typed,
            "extra": xml_text,
            "Õunapuu": xml_text,
        },
    )


customer_attrs = attribute_dicts({"ts": moments, "balance": decimals, "closed": flags})
item_attrs = attribute_dicts({"ts": moments, "salesprice": decimals, "closed": flags})
datafield_attrs = st.dictionaries(
    st.sampled_from(["code", "content", "param", "other"]), xml_text, max_size=4
)
# A record's child containers as the parser hands them: absent, empty, or some entries
# (a container the models do not type too, which both paths keep in the stored raw).
children = st.fixed_dictionaries(
    {},
    optional={
        "datafields": st.lists(datafield_attrs, max_size=3),
        "supplieritems": st.lists(datafield_attrs, max_size=2),
    },
)

RowBuilder = Callable[[dict[str, str], Any], tuple[Any, ...]]


def model_row(
    feed: feeds.Feed[Any],
    record_row: Callable[[Any, uuid.UUID], tuple[Any, ...]],
    attrs: dict[str, str],
    found: dict[str, list[dict[str, str]]],
) -> tuple[Any, ...] | str:
    """The row the model path gives, or the error it raises (as text)."""
    try:
        record = feed.build(attrs, found)
    except DirectoDecodeError as error:
        return f"refused: {error}"
    return record_row(record, CONNECTION)


def fast_row(
    build: RowBuilder, attrs: dict[str, str], found: dict[str, list[dict[str, str]]]
) -> tuple[Any, ...] | str:
    try:
        return build(attrs, found)
    except DirectoDecodeError as error:
        return f"refused: {error}"


@given(attrs=customer_attrs, found=children)
@example(attrs={}, found={})
@example(attrs={"code": "K1", "ts": "2025-03-10T08:02:11", "balance": "x"}, found={})
@example(attrs={"ts": "junk", "balance": "NaN"}, found={"datafields": []})
@example(attrs={"datafields": "own", "name": "Õie"}, found={"datafields": [{}]})
@example(attrs={"name": "", "code": "", "regno": "", "vatregno": "E"}, found={})
@example(attrs={"code": "K1", "ts": "9999-12-31T23:30:00+00:00"}, found={})  # past 9999 locally
@example(
    attrs={"code": "K1", "ts": "2025-07-01T21:30:00+00:00"},
    found={"datafields": [], "supplieritems": [{"code": "S"}], "other": []},
)
def test_customer_rows_are_the_model_paths_rows(
    attrs: dict[str, str], found: dict[str, list[dict[str, str]]]
) -> None:
    expected = model_row(feeds.CUSTOMERS, customer_record, attrs, found)
    row = fast_row(customer_rows(CONNECTION), attrs, found)
    assert row == expected
    if isinstance(row, tuple):
        assert len(row) == len(CUSTOMER_COLUMNS)


@given(attrs=item_attrs, found=children)
@example(attrs={"class": "TEENUS", "salesprice": "1e400000"}, found={})
@example(attrs={"ts": "10.03.2025 08:02", "salesprice": "-0.00"}, found={"datafields": [{}]})
@example(
    attrs={"code": "A", "supplieritems": "an attribute"},
    found={"datafields": [{"code": "X"}], "supplieritems": [{"supplier": "H1"}]},
)
def test_article_rows_are_the_model_paths_rows(
    attrs: dict[str, str], found: dict[str, list[dict[str, str]]]
) -> None:
    expected = model_row(feeds.ITEMS, article_record, attrs, found)
    row = fast_row(article_rows(CONNECTION), attrs, found)
    assert row == expected
    if isinstance(row, tuple):
        assert len(row) == len(ARTICLE_COLUMNS)


invoice_rows = st.lists(
    st.fixed_dictionaries(
        {}, optional={"quantity": decimals, "price": decimals, "aeg": moments, "rn": xml_text}
    ),
    max_size=3,
)


@given(
    attrs=st.fixed_dictionaries(
        {},
        optional={"ts": moments, "date": moments, "netamount": decimals, "number": xml_text},
    ),
    rows=st.one_of(st.none(), invoice_rows),
)
def test_a_reader_refuses_what_the_model_builder_refuses(
    attrs: dict[str, str], rows: list[dict[str, str]] | None
) -> None:
    # Invoices: fallible fields before and after the one read, and fallible children.
    found = {} if rows is None else {"rows": rows}
    try:
        expected: Any = feeds.INVOICES.build(attrs, found).ts
    except DirectoDecodeError as error:
        expected = f"refused: {error}"
    try:
        got: Any = feeds.reader(feeds.INVOICES, "ts")(attrs, found)
    except DirectoDecodeError as error:
        got = f"refused: {error}"
    assert got == expected


def test_a_reader_of_an_untyped_field_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no typed field"):
        feeds.reader(feeds.CUSTOMERS, "datafields")


def test_with_builder_feeds_the_decoder_the_parsers_dicts() -> None:
    document = (
        '<?xml version="1.0" encoding="UTF-8"?><transport><customers>'
        '<customer code="K1" name="Õunapuu &amp; Poeg" closed="1" balance="1.50" '
        'ts="10.03.2025 08:02"><datafields><data code="E" content="1" param=""/>'
        '<data code="F"/></datafields></customer>'
        '<customer code="K2" ts="2025-03-10T08:02:11"><datafields/></customer>'
        '<customer code="K3"/></customers></transport>'
    ).encode()
    models = codec.decode_feed(feeds.CUSTOMERS, document)
    rows = codec.decode_feed(
        feeds.with_builder(feeds.CUSTOMERS, customer_rows(CONNECTION)), document
    )
    assert rows == [customer_record(model, CONNECTION) for model in models]
    assert rows[0][CUSTOMER_COLUMNS.index("raw")] == (
        '{"balance":"1.50","closed":"1","code":"K1","datafields":[{"code":"E","content":"1",'
        '"param":""},{"code":"F"}],"name":"Õunapuu & Poeg","ts":"10.03.2025 08:02"}'
    )
    assert rows[0][CUSTOMER_COLUMNS.index("search_text")] == "ounapuu & poeg k1"
    assert rows[0][CUSTOMER_COLUMNS.index("directo_ts")] == values.parse_datetime(
        "10.03.2025 08:02"
    )


def test_a_bad_record_stops_the_row_feed_with_the_models_error() -> None:
    document = (
        b"<transport><items><item code='A' salesprice='1.0'/>"
        b"<item code='B' salesprice='lots'/></items></transport>"
    )
    with pytest.raises(DirectoDecodeError) as by_model:
        codec.decode_feed(feeds.ITEMS, document)
    with pytest.raises(DirectoDecodeError) as by_rows:
        codec.decode_feed(feeds.with_builder(feeds.ITEMS, article_rows(CONNECTION)), document)
    assert str(by_rows.value) == str(by_model.value) == "Item 'salesprice': not a decimal: 'lots'"


async def test_a_first_imports_writer_copies_until_a_code_comes_again(db: Resources) -> None:
    connection_id = await bare_connection(db)
    build = customer_rows(connection_id)

    def rows(*pairs: tuple[str, str]) -> list[tuple[Any, ...]]:
        return [build({"code": code, "name": name}, {}) for code, name in pairs]

    async with db.sessionmaker() as session, session.begin():
        writer = await catalog_repo.open_writer(
            session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
        )
        assert writer.started_empty
        # Streamed into one COPY (the lookup would not see them before `finish`).
        assert await writer.write(rows(("A", "a"), ("B", "b"))) == (2, 0)
        assert await writer.write(rows(("C", "c"))) == (1, 0)
        # B again, changed, and A again, unchanged: the COPY is finished, and batches are
        # looked up from here on.
        assert await writer.write(rows(("B", "b2"), ("D", "d"), ("A", "a"))) == (1, 1)
        assert await writer.write(rows(("E", "e"))) == (1, 0)
        await writer.finish()  # nothing open: nothing to wait for
    async with db.sessionmaker() as session, session.begin():
        again = await catalog_repo.open_writer(
            session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
        )
        assert not again.started_empty
        assert await again.write(rows(("A", "a"), ("F", "f"))) == (1, 0)
    async with db.sessionmaker() as session:
        codes = await catalog_repo.codes_of(session, DirectoCustomer, connection_id)
        assert sorted(codes) == ["A", "B", "C", "D", "E", "F"]
        assert await catalog_repo.count_records(session, DirectoCustomer, connection_id) == 6


async def test_a_streamed_batch_is_stored_once_the_writer_finishes(db: Resources) -> None:
    connection_id = await bare_connection(db)
    build = customer_rows(connection_id)
    async with db.sessionmaker() as session, session.begin():
        writer = await catalog_repo.open_writer(
            session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
        )
        for start in range(0, 30, 10):
            batch = [
                build({"code": f"S{n:02}", "name": "Nimi"}, {}) for n in range(start, start + 10)
            ]
            assert await writer.write(batch) == (10, 0)
        await writer.finish()
        assert await catalog_repo.count_records(session, DirectoCustomer, connection_id) == 30


async def test_a_streamed_copy_outlasts_the_statement_timeout(db: Resources) -> None:
    """The first import's COPY stays open while the feed is read, however slow Directo is;
    the session's statement timeout holds again once it is finished."""
    connection_id = await bare_connection(db)
    build = customer_rows(connection_id)
    async with db.sessionmaker() as session, session.begin():
        await session.execute(text("SET LOCAL statement_timeout = 200"))
        writer = await catalog_repo.open_writer(
            session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
        )
        for start in range(0, 30, 10):
            batch = [
                build({"code": f"T{n:02}", "name": "Nimi"}, {}) for n in range(start, start + 10)
            ]
            assert await writer.write(batch) == (10, 0)
            await asyncio.sleep(0.25)  # a slow feed: longer than the timeout between batches
        await writer.finish()
        assert await catalog_repo.count_records(session, DirectoCustomer, connection_id) == 30
        assert await session.scalar(text("SHOW statement_timeout")) == "200ms"


async def test_a_streamed_batchs_database_error_is_raised_by_finish(db: Resources) -> None:
    connection_id = await bare_connection(db)
    too_long = customer_rows(connection_id)({"code": "K" * 65}, {})  # the column holds 64
    async with db.sessionmaker() as session:  # closed unfinished: rolled back
        writer = await catalog_repo.open_writer(
            session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
        )
        assert await writer.write([too_long]) == (1, 0)  # taken by the COPY, not yet stored
        with pytest.raises(asyncpg.StringDataRightTruncationError):
            await writer.finish()


@pytest.mark.slow
async def test_a_first_import_in_many_batches_stores_every_customer(
    client: AsyncClient, db: Resources, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalogue, "BATCH_SIZE", 7)  # 500 customers: 72 streamed batches
    await client.put(BASE, json={})
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert response.status_code == 201, response.text
    await asyncio.wait_for(run_worker_burst(db.settings), 120)
    job = (await client.get(f"/v1/jobs/{response.json()['import_job']['id']}")).json()
    assert job["status"] == "succeeded", job
    assert job["counts"] == {
        "read": 500, "added": 500, "updated": 0, "unchanged": 0, "marked_missing": 0,
    }  # fmt: skip
    stored = await all_customers(client, include_closed=True)
    assert [item["code"] for item in stored] == [f"K{n:06}" for n in range(1, 501)]
    # Again in full: looked up batch by batch, all unchanged.
    again = await client.post(f"{BASE}/imports", json={"feed": "customers", "full": True})
    await asyncio.wait_for(run_worker_burst(db.settings), 120)
    job = (await client.get(f"/v1/jobs/{again.json()['id']}")).json()
    assert job["counts"] == {
        "read": 500, "added": 0, "updated": 0, "unchanged": 500, "marked_missing": 0,
    }  # fmt: skip


@pytest.mark.slow
async def test_a_first_import_failing_mid_feed_stores_nothing(
    client: AsyncClient, db: Resources, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The feed breaks after three batches, which the writer has streamed into its COPY.
    monkeypatch.setattr(catalogue, "BATCH_SIZE", 20)
    real_iter_feed = DirectoClient.iter_feed

    async def breaking(
        self: DirectoClient, creds: Any, feed: feeds.Feed[Any], **options: Any
    ) -> AsyncGenerator[list[Any], None]:
        count = 0
        async for batch in real_iter_feed(self, creds, feed, **options):
            yield batch
            count += 1
            if feed is not feeds.CUSTOMERS and count == 3:  # the import's feed, not a probe
                raise DirectoTruncatedError("the XML ended early (test)")

    monkeypatch.setattr(DirectoClient, "iter_feed", breaking)
    await client.put(BASE, json={})
    response = await client.put(f"{BASE}/connection", json={"token": "sandbox-token-ee"})
    assert response.status_code == 201, response.text
    # A COPY left open would hang the job's rollback: fail instead of waiting forever.
    await asyncio.wait_for(run_worker_burst(db.settings), 120)
    job = (await client.get(f"/v1/jobs/{response.json()['import_job']['id']}")).json()
    assert job["status"] == "failed", job
    assert job["errors"][-1]["code"] == "truncated_response"
    assert await all_customers(client, include_closed=True) == []
    async with db.sessionmaker() as session:
        assert await session.scalar(select(SyncWatermark)) is None


async def test_a_writer_interrupted_while_finishing_aborts_its_copy(db: Resources) -> None:
    connection_id = await bare_connection(db)
    session = db.sessionmaker()
    try:
        writer = await catalog_repo.open_writer(
            session, DirectoCustomer, connection_id=connection_id, columns=CUSTOMER_COLUMNS
        )
        assert await writer.write([customer_rows(connection_id)({"code": "A"}, {})]) == (1, 0)
        finishing = asyncio.create_task(writer.finish())
        await asyncio.sleep(0)  # it waits for the COPY now
        finishing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await finishing
        await asyncio.wait_for(session.rollback(), 10)  # the connection is out of the COPY
    finally:
        await session.close()
    async with db.sessionmaker() as session:
        assert await catalog_repo.count_records(session, DirectoCustomer, connection_id) == 0
