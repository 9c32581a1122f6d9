"""Payment terms and contact data on exported invoices: day counts mapped to the Directo
database's payment-term codes per connection (settable through the API), Directo's refusal
of an unknown term as `payment_term_unknown`, `duedate` always sent, and the client's
e-mail / registration code sent inline for a customer card that has neither — through the
API and a real worker against the sandbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from httpx import AsyncClient

from app.directo.codec import parse_document
from app.directo.sandbox import SandboxState
from app.exports.schemas import InvoiceIn
from app.exports.service import request_hash
from app.resources import Resources
from tests.support.exports_helpers import (
    BASE,
    COMPANY,
    DATABASE,
    INVOICES,
    directo_invoice,
    export_and_send,
    invoice,
    ready,
)

TERMS = f"{BASE}/connection/payment-terms"


def header_of(xml: str) -> dict[str, str]:
    (document,) = parse_document(xml).iter("invoice")
    return dict(document.attrs)


@pytest.mark.slow
async def test_day_counts_map_to_the_databases_term_codes(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    # This database names its terms by code: a bare day count is not among them.
    sandbox.database(DATABASE).payment_terms = {"N14", "N30", "7"}
    refused = await export_and_send(client, db, invoice(number="INV-2026-0041"))
    assert (refused["status"], refused["error_code"]) == ("failed", "payment_term_unknown")
    (problem,) = refused["errors"]
    assert problem["loc"] == ["due_date"]
    assert problem["context"] == {
        "paymentterm": "14",
        "directo_type": 31,
        "directo_desc": "Payment term not found: 14",
    }
    assert problem["fix"].startswith(
        "Map this payment term to a code of the Directo database's payment-term register: "
        'PUT …/directo/connection/payment-terms {"codes": {"<days>": "<code>"}}'
    )

    assert (await client.get(TERMS)).json()["codes"] == {}
    stored = await client.put(TERMS, json={"codes": {"14": "N14", "30": "N30"}})
    assert stored.status_code == 200, stored.text
    connection_id = (await client.get(f"{BASE}/connection")).json()["id"]
    assert stored.json() == {"connection_id": connection_id, "codes": {"14": "N14", "30": "N30"}}
    assert (await client.get(TERMS)).json() == stored.json()

    dry = (await client.post(f"{INVOICES}/validate", json=invoice())).json()
    assert (dry["payment_term_days"], dry["payment_term"]) == (14, "N14")
    assert header_of(dry["xml"])["paymentterm"] == "N14"
    sent = await export_and_send(client, db, invoice())
    assert sent["status"] == "sent", sent
    header = header_of(sent["xml_sent"])
    assert (header["paymentterm"], header["duedate"]) == ("N14", "2026-03-16")
    kept = directo_invoice(sandbox, 20260042)
    assert kept is not None
    assert (kept["paymentterm"], kept["duedate"]) == ("N14", "2026-03-16T00:00:00")
    # A day count the mapping does not name still goes as itself.
    week = await export_and_send(client, db, invoice(number="INV-2026-0043", due_date="2026-03-09"))
    assert (week["status"], header_of(week["xml_sent"])["paymentterm"]) == ("sent", "7")
    # An empty mapping restores day counts.
    cleared = await client.put(TERMS, json={"codes": {}})
    assert cleared.json()["codes"] == {}
    dry = (await client.post(f"{INVOICES}/validate", json=invoice())).json()
    assert dry["payment_term"] == "14"


@pytest.mark.slow
async def test_payment_term_codes_belong_to_one_connection_and_are_checked(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    assert (await client.get(TERMS)).status_code == 404  # not connected yet
    await ready(client, db, sandbox)
    client_terms = f"/v1/companies/{COMPANY}/clients/client-9/directo/connection/payment-terms"
    assert (await client.put(client_terms, json={"codes": {"14": "X"}})).status_code == 404
    own = await client.put(
        f"/v1/companies/{COMPANY}/clients/client-9/directo/connection",
        json={"token": "sandbox-token-lv"},
    )
    assert own.status_code == 201, own.text
    assert (await client.put(client_terms, json={"codes": {"10": "K10"}})).status_code == 200
    assert (await client.put(TERMS, json={"codes": {"14": "N14"}})).status_code == 200
    assert (await client.get(client_terms)).json()["codes"] == {"10": "K10"}
    assert (await client.get(TERMS)).json()["codes"] == {"14": "N14"}
    bad: list[Any] = [
        {"codes": {"-1": "X"}},
        {"codes": {"fourteen": "X"}},
        {"codes": {"3651": "X"}},
        {"codes": {"14": ""}},
        {"codes": {"14": " N14"}},
        {"codes": {"14": "N\x0114"}},
        {"codes": {"14": "X" * 33}},
        {"codes": {"14": "N14"}, "default": "days"},
        {},
    ]
    for body in [*bad, {"codes": {"14": "N\ud800"}}]:
        # json.dumps escapes what UTF-8 cannot carry (a lone surrogate) as \\uXXXX
        response = await client.put(
            TERMS, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert (response.status_code, response.json()["code"]) == (422, "validation_failed"), body
    assert (await client.get(TERMS)).json()["codes"] == {"14": "N14"}
    # Concurrent replacements run one after the other: the last one wins, whole.
    mappings = [{str(days): f"T{n}" for days in (7, 14, 30)} for n in range(6)]
    answers = await asyncio.gather(*(client.put(TERMS, json={"codes": m}) for m in mappings))
    assert [answer.status_code for answer in answers] == [200] * len(mappings)
    assert (await client.get(TERMS)).json()["codes"] in mappings
    other = "/v1/companies/firm-other/directo/connection/payment-terms"
    assert (await client.get(other)).status_code == 404


@pytest.mark.slow
async def test_a_customer_card_without_email_or_regno_gets_the_clients_contact_inline(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    contact = {"client_email": "arved@klient.ee", "client_regno": "12345678"}
    # K000004's card has neither: without the client's contact Directo refuses (Type 13).
    bare = await export_and_send(client, db, invoice(number="INV-1", customer_code="K000004"))
    assert (bare["status"], bare["error_code"]) == ("failed", "customer_missing_regno_or_email")
    assert "client_email" in bare["errors"][0]["fix"]
    sent = await export_and_send(
        client, db, invoice(number="INV-2", customer_code="K000004", **contact)
    )
    assert sent["status"] == "sent", sent
    header = header_of(sent["xml_sent"])
    assert (header["email"], header["customer_regno"]) == ("arved@klient.ee", "12345678")
    only_regno = await export_and_send(
        client, db, invoice(number="INV-3", customer_code="K000004", client_regno="12345678")
    )
    assert only_regno["status"] == "sent", only_regno
    assert "email" not in header_of(only_regno["xml_sent"])
    # K000001's card has an e-mail: the card is Directo's, nothing is sent inline.
    carded = await export_and_send(client, db, invoice(number="INV-4", **contact))
    assert carded["status"] == "sent", carded
    assert {"email", "customer_regno"}.isdisjoint(header_of(carded["xml_sent"]))
    for wrong in ({"client_email": "not-an-address"}, {"client_regno": " 123"}):
        response = await client.post(f"{INVOICES}/validate", json=invoice(**wrong))
        assert (response.status_code, response.json()["code"]) == (422, "validation_failed")


def test_a_request_without_the_contact_fields_hashes_as_before_they_existed() -> None:
    """A retry (same Idempotency-Key, same body) of an export accepted before
    `client_email`/`client_regno` existed must still match its stored hash."""
    seed = InvoiceIn.model_validate(invoice())
    # The seed invoice's hash as the release before these fields computed it.
    assert request_hash(seed) == "9d52eea3c0c7185302491b01b48c68cc4bf1d3d745e5a5b454829dddbc3acae3"
    with_contact = InvoiceIn.model_validate(invoice(client_email="arved@klient.ee"))
    assert request_hash(with_contact) != request_hash(seed)
