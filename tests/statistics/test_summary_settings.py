"""Field catalogue and summary settings through the API."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import update

from app.db.models import SummarySettings
from app.resources import Resources

URL = "/v1/companies/firm-1/directo/summary-settings"


def settings_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_title": "Kuu kokkuvõte",
        "topic": "Raamatupidamine",
        "import_day": {"rule": "last_work_day"},
        "field_mapping": {
            "sales_invoices": "uku-field-1",
            "documents": "uku-field-2",
            "purchase_total": None,
        },
    }
    body.update(overrides)
    return body


async def test_catalogue_lists_common_fields_first_then_more(client: AsyncClient) -> None:
    items = (await client.get("/v1/directo/fields")).json()["items"]
    keys = [item["key"] for item in items]
    assert keys[:6] == [
        "sales_invoices",
        "sales_invoice_rows",
        "purchase_invoices",
        "bank_transactions",
        "ledger_transactions",
        "documents",
    ]
    assert [item["more"] for item in items] == [False] * 6 + [True] * 5
    purchases = next(item for item in items if item["key"] == "purchase_invoices")
    assert purchases["scopes"] == ["own_connection"]
    assert purchases["source"] == "purchase"


@pytest.mark.slow
async def test_settings_round_trip_and_remind_about_reloads(client: AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 404
    saved = await client.put(URL, json=settings_body())
    assert saved.status_code == 200
    body = saved.json()
    assert body["import_day"] == {"rule": "last_work_day"}
    assert body["recurrence"] == "monthly"
    assert "start a reload" in body["note"]
    assert (await client.get(URL)).json() == body

    changed = await client.put(
        URL, json=settings_body(import_day={"rule": "day_of_next_month", "day": 5})
    )
    assert changed.json()["import_day"] == {"rule": "day_of_next_month", "day": 5}
    assert (
        await client.get("/v1/companies/other-firm/directo/summary-settings")
    ).status_code == 404


async def test_unknown_field_keys_are_named(client: AsyncClient) -> None:
    response = await client.put(
        URL,
        json=settings_body(field_mapping={"sales_invoices": "f1", "coffee_cups": "f2", "x": None}),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "field_unknown"
    assert [item["loc"] for item in body["errors"]] == [
        ["body", "field_mapping", "coffee_cups"],
        ["body", "field_mapping", "x"],
    ]


@pytest.mark.parametrize(
    ("import_day", "loc_end"),
    [
        ({"rule": "day_of_next_month", "day": 29}, "day"),
        ({"rule": "day_of_next_month", "day": 0}, "day"),
        ({"rule": "day_of_next_month"}, "day"),
        ({"rule": "every_full_moon"}, "import_day"),
    ],
)
@pytest.mark.slow
async def test_import_day_is_validated(
    client: AsyncClient, import_day: dict[str, Any], loc_end: str
) -> None:
    response = await client.put(URL, json=settings_body(import_day=import_day))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert any(loc_end in item["loc"] for item in body["errors"])


async def test_blank_uku_field_id_is_refused(client: AsyncClient) -> None:
    response = await client.put(URL, json=settings_body(field_mapping={"documents": "  "}))
    assert (response.status_code, response.json()["code"]) == (422, "field_mapping_invalid")


async def test_an_uku_field_id_longer_than_its_column_is_refused(client: AsyncClient) -> None:
    longest = await client.put(URL, json=settings_body(field_mapping={"documents": "f" * 128}))
    assert longest.status_code == 200, longest.text
    response = await client.put(URL, json=settings_body(field_mapping={"documents": "f" * 129}))
    body = response.json()
    assert (response.status_code, body["code"]) == (422, "validation_failed")
    assert [item["loc"] for item in body["errors"]] == [["body", "field_mapping", "documents"]]


async def test_settings_stored_before_the_limit_still_read_back(
    client: AsyncClient, db: Resources
) -> None:
    assert (await client.put(URL, json=settings_body())).status_code == 200
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(SummarySettings).values(field_mapping={"documents": "f" * 200})
        )
    read = await client.get(URL)
    assert read.status_code == 200, read.text
    assert read.json()["field_mapping"] == {"documents": "f" * 200}
