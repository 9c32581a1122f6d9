"""The webhook payloads in the contract: every event type has a schema in the served
OpenAPI document, and the suite-wide audit (tests/support/event_contract.py) tells the
gateway's events from made-up ones and fails on an invalid one."""

from __future__ import annotations

import json
import uuid

import pytest
from httpx import AsyncClient
from jsonschema import Draft202012Validator
from sqlalchemy import text

from app.resources import Resources
from app.webhooks.outbox import emit
from app.webhooks.types import EventType
from tests.support.event_contract import EventAudit, served_webhook_schemas

COMPANY = "firm-schemas"

PAID = {
    "export_id": str(uuid.uuid4()),
    "client_id": "client-1",
    "invoice_number": "INV-2026-0042",
    "directo_number": 20260042,
    "customer_code": "K000001",
    "currency": "EUR",
    "payment_status": "paid",
    "previous_payment_status": "unpaid",
    "total": "409.20",
    "balance": "0.00",
    "paid_amount": "409.20",
    "overpaid_amount": "0",
    "paid_on": "2026-03-20",
}


async def test_every_event_type_has_a_webhook_schema(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert set(document["webhooks"]) == {event.value for event in EventType}
    for event_type, operation in document["webhooks"].items():
        body = operation["post"]["requestBody"]["content"]["application/json"]["schema"]
        model = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
        assert model["properties"]["type"]["const"] == event_type
        envelope = {"id", "type", "company_id", "sequence", "timestamp", "data"}
        assert set(model["required"]) == envelope


async def _insert_raw(db: Resources, type_: str, payload: dict[str, object], sequence: int) -> None:
    """An event row written without `emit`, as another process of the gateway would."""
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO events (id, company_id, sequence, type, payload, created_at)"
                " VALUES (:id, :company, :sequence, :type, CAST(:payload AS jsonb), now())"
            ),
            {
                "id": uuid.uuid4(),
                "company": COMPANY,
                "sequence": sequence,
                "type": type_,
                "payload": json.dumps(payload),
            },
        )


async def test_the_audit_passes_a_valid_event_and_names_an_invalid_one(db: Resources) -> None:
    audit = EventAudit(db.settings)
    await audit.start(db)
    await _insert_raw(db, "invoice.paid", PAID, 1)
    await audit.check(db)

    await _insert_raw(db, "invoice.paid", {**PAID, "total": 409.2, "surprise": 1}, 2)
    with pytest.raises(AssertionError) as failure:
        await audit.check(db)
    message = str(failure.value)
    assert "invoice.paid #2 at data/total: 409.2 is not valid" in message
    assert "'surprise' was unexpected" in message
    assert "#1" not in message
    # Leave the database as the `db` fixture's own audit expects: nothing invalid.
    async with db.engine.begin() as connection:
        await connection.execute(text("DELETE FROM events WHERE sequence = 2"))


async def test_events_made_up_by_a_test_are_not_the_gateways(db: Resources) -> None:
    audit = EventAudit(db.settings)
    await audit.start(db)
    async with db.sessionmaker() as session, session.begin():
        event = await emit(session, company_id=COMPANY, type_=EventType.INVOICE_PAID, payload={})
    assert event.id in audit.made_up
    await audit.check(db)


def test_the_statistics_payload_accepts_which_read_it_was(db: Resources) -> None:
    schema = served_webhook_schemas(db.settings)["statistics.imported"]
    body = {
        "id": str(uuid.uuid4()),
        "type": "statistics.imported",
        "company_id": COMPANY,
        "sequence": 1,
        "timestamp": "2026-04-01T10:00:00+00:00",
        "data": {
            "client_id": "client-1",
            "month": "2026-03",
            "scope": "linked_customer",
            "customer_code": "K000001",
            "values": [{"field_key": "sales_invoices", "value": "3", "uku_field_id": "f-1"}],
        },
    }
    Draft202012Validator(schema).validate(body)
    for read in ("first", "settle"):
        Draft202012Validator(schema).validate({**body, "data": {**body["data"], "read": read}})
