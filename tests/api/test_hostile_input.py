"""Hostile input answers a clear 4xx, never a 5xx or an outage: values the database cannot
hold (and database errors told apart: the request's data, a busy database, an outage, a
bug), and unknown body fields (a typo must not be silently ignored). Cursors are in
`tests/api/test_cursors.py`, the request-body limit in `tests/api/test_body_limit.py`."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi.routing import APIRoute
from httpx import AsyncClient
from pydantic import BaseModel
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db import errors as db_errors
from app.db.errors import DatabaseFailure
from app.main import create_app
from app.resources import Resources
from tests.conftest import make_settings
from tests.support.exports_helpers import invoice, key
from tests.support.helpers import logged_events, problem_of

COMPANY = "firm-hostile"
BASE = f"/v1/companies/{COMPANY}"


# ---------------------------------------------------------------------------------------
# Values the database cannot hold


@pytest.mark.slow
async def test_text_the_database_cannot_hold_is_a_422_on_every_path(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A NUL character reaches PostgreSQL (pydantic refuses unpaired surrogates itself) on
    the read pool, in an upsert and in an insert: 422 each time, no outage."""
    nul = "K\x00"
    requests = [
        ("GET", f"{BASE}/directo/customers", {"params": {"search": nul}}),
        (
            "PUT",
            f"{BASE}/directo/summary-settings",
            {"json": {"task_title": nul, "import_day": {"rule": "last_work_day"}}},
        ),
        (
            "POST",
            f"{BASE}/webhook-endpoints",
            {"json": {"url": "http://127.0.0.1:9/h", "description": nul}},
        ),
    ]
    for method, url, options in requests:
        response = await client.request(method, url, **options)
        assert (response.status_code, problem_of(response)) == (
            422,
            {
                "type": "urn:directo-gateway:problem:text_not_storable",
                "title": "Unprocessable Content",
                "status": 422,
                "detail": "The request holds text that cannot be stored (a NUL character or an "
                "unpaired surrogate).",
                "code": "text_not_storable",
                "errors": [],
            },
        ), url
    assert logged_events(caplog, at_least=logging.INFO) == [("INFO", "database_refused_value")] * 3


FAILURES = {
    "aware time beyond year 9999 in UTC (asyncpg refuses to encode it)": (
        "SELECT CAST(:v AS timestamptz)",
        {"v": dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(-dt.timedelta(hours=14)))},
        DatabaseFailure.VALUE_NOT_STORABLE,
    ),
    "integer beyond int64 (asyncpg)": (
        "SELECT CAST(:v AS bigint)",
        {"v": 10**20},
        DatabaseFailure.VALUE_NOT_STORABLE,
    ),
    # Data errors PostgreSQL raises while computing: as likely over stored data as over the
    # request's, so the gateway's bug, never blamed on the client.
    "numeric overflow computed by PostgreSQL (22003)": (
        "SELECT CAST(:v AS integer) + 1",
        {"v": 2**31 - 1},
        DatabaseFailure.BUG,
    ),
    "division by zero (PostgreSQL, 22012)": (
        "SELECT 1 / (CAST(:v AS integer) - 1)",
        {"v": 1},
        DatabaseFailure.BUG,
    ),
    "malformed literal cast by PostgreSQL (22P02)": (
        "SELECT CAST(CAST(:v AS text) AS uuid)",
        {"v": "not-a-uuid"},
        DatabaseFailure.BUG,
    ),
    "NUL in text (PostgreSQL, 22021)": (
        "SELECT CAST(:v AS text)",
        {"v": "a\x00b"},
        DatabaseFailure.TEXT_NOT_STORABLE,
    ),
    "unpaired surrogate (asyncpg cannot encode it)": (
        "SELECT CAST(:v AS text)",
        {"v": "a\ud800b"},
        DatabaseFailure.TEXT_NOT_STORABLE,
    ),
    "statement timeout (57014)": (
        "SELECT set_config('statement_timeout', '50', true); SELECT pg_sleep(1)",
        {},
        DatabaseFailure.BUSY,
    ),
    "unique violation: a bug the code did not expect (23505)": (
        "CREATE TEMP TABLE t (n int UNIQUE); INSERT INTO t VALUES (1), (1)",
        {},
        DatabaseFailure.BUG,
    ),
    "SQL error: a bug (42703)": ("SELECT no_such_column", {}, DatabaseFailure.BUG),
}


async def _run(engine: AsyncEngine, statements: str, parameters: dict[str, Any]) -> None:
    async with engine.begin() as connection:
        for statement in statements.split("; "):
            await connection.execute(text(statement), parameters)


@pytest.mark.parametrize("name", list(FAILURES))
async def test_database_errors_are_told_apart(db: Resources, name: str) -> None:
    """Real errors from the real server and driver, each classified as what it means."""
    statements, parameters, expected = FAILURES[name]
    with pytest.raises(DBAPIError) as raised:
        await _run(db.engine, statements, parameters)
    assert db_errors.classify(raised.value) is expected


async def test_a_lost_or_refused_connection_is_an_outage(db: Resources) -> None:
    refused = create_async_engine(make_url(db.settings.database.url).set(port=1))
    missing = create_async_engine(make_url(db.settings.database.url).set(database="gw_nowhere"))
    for engine in (refused, missing):
        with pytest.raises((OSError, DBAPIError)) as raised:
            await _run(engine, "SELECT 1", {})
        await engine.dispose()
        assert db_errors.classify(raised.value) is DatabaseFailure.UNAVAILABLE, raised.value
    async with db.engine.connect() as connection:
        pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as lost:
            await connection.execute(text("SELECT 1"))
        assert db_errors.classify(lost.value) is DatabaseFailure.UNAVAILABLE


async def test_a_data_error_computed_over_stored_data_is_a_bug_not_the_clients(
    client: AsyncClient, db: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    """A division by zero PostgreSQL raises while working over stored rows (a trigger over
    the integration's row stands in for any such computation) is the gateway's fault: 500,
    logged as a bug — not `422 value_not_storable`, which would send the client to look
    for a bad value it never sent."""
    assert (await client.put(f"{BASE}/directo", json={})).status_code == 201
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION gw_test_divide() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM length(OLD.company_id) / 0; RETURN NEW; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER gw_test_divide BEFORE UPDATE ON integrations "
                "FOR EACH ROW EXECUTE FUNCTION gw_test_divide()"
            )
        )
    try:
        response = await client.put(f"{BASE}/directo", json={"auto_confirm_invoices": True})
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER gw_test_divide ON integrations"))
            await connection.execute(text("DROP FUNCTION gw_test_divide()"))
    assert (response.status_code, problem_of(response)) == (
        500,
        {
            "type": "urn:directo-gateway:problem:internal_error",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "The gateway failed to handle this request.",
            "code": "internal_error",
            "errors": [],
        },
    )
    assert logged_events(caplog, at_least=logging.INFO) == [("ERROR", "unhandled_error")]


# ---------------------------------------------------------------------------------------
# Unknown body fields


async def test_a_misspelt_setting_is_refused_and_changes_nothing(client: AsyncClient) -> None:
    assert (await client.put(f"{BASE}/directo", json={})).status_code == 201
    response = await client.put(f"{BASE}/directo", json={"auto_confirm_invoice": True})
    assert response.status_code == 422
    assert problem_of(response) == {
        "type": "urn:directo-gateway:problem:validation_failed",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "The request is not valid; see errors for each problem.",
        "code": "validation_failed",
        "errors": [
            {
                "code": "extra_forbidden",
                "message": "Unknown field 'auto_confirm_invoice': this request has no such field.",
                "loc": ["body", "auto_confirm_invoice"],
                "fix": "Did you mean 'auto_confirm_invoices'? Remove the field or correct its "
                "name (see openapi.yaml).",
                "context": None,
            }
        ],
    }
    assert (await client.get(f"{BASE}/directo")).json()["auto_confirm_invoices"] is False
    nested = await client.put(
        f"{BASE}/directo/summary-settings",
        json={"task_title": "T", "import_day": {"rule": "last_work_day", "days": 3}},
    )
    assert nested.status_code == 422
    [item] = nested.json()["errors"]
    assert (item["code"], item["loc"][-1]) == ("extra_forbidden", "days")
    row = invoice()["rows"][0]
    row["articel_code"] = row.pop("article_code")
    in_a_row = await client.post(
        f"{BASE}/directo/invoices/validate", json=invoice(rows=[row]), headers=key()
    )
    assert in_a_row.status_code == 422
    assert [(item["code"], item["loc"], item["fix"]) for item in in_a_row.json()["errors"]] == [
        ("missing", ["body", "rows", 0, "article_code"], None),
        (
            "extra_forbidden",
            ["body", "rows", 0, "articel_code"],
            "Did you mean 'article_code'? Remove the field or correct its name (see openapi.yaml).",
        ),
    ]


@pytest.mark.slow
async def test_a_body_of_many_unknown_fields_gets_a_bounded_answer(client: AsyncClient) -> None:
    """Hundreds of thousands of unknown keys fit in the body limit: the answer lists the
    first 50 problems, suggests a field for the first 20, clips the names it repeats, and
    stays a few kilobytes however large the body."""
    long_name = "x" * 100_000
    fields: dict[str, object] = {long_name: 1}
    fields |= {f"auto_confirm_invoice{n}": True for n in range(30)}
    fields |= {f"k{n}": 1 for n in range(300_000)}
    body = json.dumps(fields, separators=(",", ":")).encode()
    assert len(body) > 3_500_000
    response = await client.put(
        f"{BASE}/directo", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert len(response.content) < 16_000
    problem = response.json()
    assert problem["detail"] == (
        "The request is not valid: 300031 problems; errors lists the first 50 "
        "(299981 more not listed)."
    )
    items = problem["errors"]
    assert len(items) == 50
    assert {item["code"] for item in items} == {"extra_forbidden"}
    clipped = f"{'x' * 80}… (100000 characters)"
    assert (items[0]["loc"], items[0]["message"]) == (
        ["body", clipped],
        f"Unknown field '{clipped}': this request has no such field.",
    )
    # The first 20 unknown fields are matched against the model's (the long name is no
    # typo of any); the rest are only named.
    suggested = [item["loc"][-1] for item in items if item["fix"].startswith("Did you mean")]
    assert suggested == [f"auto_confirm_invoice{n}" for n in range(19)]
    assert items[-1]["loc"] == ["body", "k18"]


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """Every model a body annotation can hold, nested ones included."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models(field.annotation)
    for arg in get_args(annotation):
        yield from _models(arg)


def _api_routes(routes: Any) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(router.routes)  # FastAPI keeps included routers nested


def test_every_request_body_model_refuses_unknown_fields() -> None:
    """Walks every route the app serves: a body model added later must forbid extras too."""
    app = create_app(make_settings())
    with_body = [route for route in _api_routes(app.routes) if route.body_field is not None]
    documented = [
        operation
        for item in app.openapi()["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]
    assert len(with_body) == len(documented) >= 9
    lax = set()
    for route in with_body:
        annotation = route.body_field.field_info.annotation  # type: ignore[union-attr]
        models = list(_models(annotation))
        if not models:
            lax.add(f"{route.path}: the body is not a model")
        lax |= {
            f"{route.path}: {model.__name__}"
            for model in models
            if model.model_config.get("extra") != "forbid"
        }
    assert lax == set()


def test_the_api_description_says_unknown_fields_are_refused() -> None:
    document = create_app(make_settings()).openapi()
    schemas = document["components"]["schemas"]
    bodies = {
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        for item in document["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    }
    assert {
        name for name in bodies if schemas[name].get("additionalProperties") is not False
    } == set()
