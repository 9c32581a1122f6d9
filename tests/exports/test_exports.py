"""Invoice export through the API and a real worker against the sandbox: seed 001's
examples, the request contract (Idempotency-Key, 409 until enabled), the dry run, reading
exports, and every troubleshooting error — before sending where possible, from Directo's
answer otherwise."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from app.api.pagination import Cursors
from app.directo.codec import parse_document
from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.support.exports_helpers import (
    BASE,
    COMPANY,
    DATABASE,
    INVOICES,
    directo_invoice,
    events,
    export,
    export_and_send,
    get_export,
    invoice,
    key,
    puts,
    ready,
)
from tests.support.helpers import run_worker_burst


def sent_document(xml: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    root = parse_document(xml)
    (doc,) = root.iter("invoice")
    rows = [row.attrs for rows in doc.iter("rows") for row in rows.children]
    return doc.attrs, rows


@pytest.mark.slow
async def test_seed_example_is_exported_as_a_draft_with_its_rules(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    response = await export(client, invoice())
    assert response.status_code == 202, response.text
    queued = response.json()
    assert (queued["status"], queued["directo_number"], queued["invoice_number"]) == (
        "queued",
        20260042,
        "INV-2026-0042",
    )
    assert (queued["customer_code"], queued["net_total"], queued["confirmed"]) == (
        "K000001",
        "330.00",
        False,
    )
    await run_worker_burst(db.settings)
    sent = await get_export(client, queued["id"])
    assert sent["status"] == "sent", sent
    assert (sent["directo_docid"], sent["directo_result_type"]) == ("20260042", 30)
    assert (sent["attempts"], sent["error_code"], sent["errors"]) == (1, None, [])
    assert sent["payment"]["status"] == "unpaid"
    assert sent["xml_received"] == (
        '<results><Result Type="30" Desc="Created" docid="20260042" doctype="ARVE" '
        'submit="Invoices"/></results>'
    )
    header, rows = sent_document(sent["xml_sent"])
    assert header == {
        "number": "20260042",
        "customercode": "K000001",
        "date": "2026-03-02",
        "duedate": "2026-03-16",
        "paymentterm": "14",
        "currency": "EUR",
        "salesman": "MARI",  # no default user: the first resource code on the rows
        "comment": "Märts 2026 — raamatupidamine",
    }  # no confirm attribute: a draft
    assert [(row["item"], row["object"], row["vatcode"]) for row in rows] == [
        ("RAAMAT", "MARI", "24"),  # the row's resource
        ("KONS", "JYRI", "24"),  # the client's default resource
    ]
    stored = directo_invoice(sandbox, 20260042)
    assert stored is not None
    assert (stored["confirmed"], stored["netamount"], stored["paymentterm"]) == (
        "0",
        "330.00",
        "14",
    )
    assert stored["comment"] == "Märts 2026 — raamatupidamine"
    (exported,) = await events(client, "invoice.exported")
    assert exported["data"] == {
        "export_id": queued["id"],
        "client_id": "client-1",
        "invoice_number": "INV-2026-0042",
        "directo_number": 20260042,
        "customer_code": "K000001",
        "status": "sent",
        "confirmed": False,
        "directo_docid": "20260042",
        "error_code": None,
        "errors": [],
    }


@pytest.mark.slow
async def test_confirmed_with_the_setting_on_and_the_default_user_as_seller(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox, auto_confirm=True)
    body = invoice(
        number="ARVE 2026/0043",
        due_date=None,
        billing={
            "default_resource_is_default_user": True,
            "default_user": {"id": "u-tonu", "name": "Tõnu", "external_code": "TONU"},
            "due_date_days": 7,
        },
    )
    body["rows"][1].pop("resource_id", None)
    sent = await export_and_send(client, db, body)
    assert (sent["status"], sent["directo_number"], sent["confirmed"]) == ("sent", 20260043, True)
    header, rows = sent_document(sent["xml_sent"])
    assert (header["confirm"], header["salesman"], header["paymentterm"]) == ("1", "TONU", "7")
    assert header["duedate"] == "2026-03-09"
    # Row 2 has no resource and the client no default resource: the default user's code.
    assert [row["object"] for row in rows] == ["MARI", "TONU"]
    stored = directo_invoice(sandbox, 20260043)
    assert stored is not None
    assert stored["confirmed"] == "1"


@pytest.mark.slow
async def test_validate_returns_the_xml_and_sends_nothing(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox, export_enabled=False)
    sandbox.clear_requests()
    response = await client.post(f"{INVOICES}/validate", json=invoice())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert {k: v for k, v in answer.items() if k != "xml"} == {
        "valid": True,
        "directo_number": 20260042,
        "customer_code": "K000001",
        "payment_term_days": 14,
        "payment_term": "14",
        "seller": "MARI",
        "confirm": False,
        "net_total": "330.00",
    }
    assert answer["xml"].startswith('<?xml version="1.0" encoding="utf-8"?><invoices><invoice ')
    header, _ = sent_document(answer["xml"])
    assert header["number"] == "20260042"
    assert puts(sandbox) == []
    listed = (await client.get(INVOICES)).json()
    assert listed == {"items": [], "next_cursor": None}


@pytest.mark.slow
async def test_export_needs_the_idempotency_key_and_invoice_export_enabled(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox, export_enabled=False)
    missing = await client.post(INVOICES, json=invoice())
    assert missing.status_code == 400
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "idempotency_key_required"
    blank = await client.post(INVOICES, json=invoice(), headers={"Idempotency-Key": "  "})
    assert (blank.status_code, blank.json()["code"]) == (400, "idempotency_key_required")
    disabled = await export(client, invoice())
    assert (disabled.status_code, disabled.json()["code"]) == (409, "invoice_export_disabled")
    assert (await client.put(BASE, json={"invoice_export_enabled": True})).status_code == 200
    enabled = await export(client, invoice())
    assert enabled.status_code == 202, enabled.text


@pytest.mark.slow
async def test_export_before_connecting_is_a_clear_conflict(
    client: AsyncClient, db: Resources
) -> None:
    not_enabled = await export(client, invoice())
    assert (not_enabled.status_code, not_enabled.json()["code"]) == (409, "integration_disabled")
    await client.put(BASE, json={"invoice_export_enabled": True})
    not_connected = await export(client, invoice())
    assert (not_connected.status_code, not_connected.json()["code"]) == (
        409,
        "directo_not_connected",
    )


@pytest.mark.slow
async def test_same_key_same_body_is_the_same_export_and_another_body_is_refused(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    headers = key()
    first = await export(client, invoice(), headers=headers)
    again = await export(client, invoice(), headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # Key order in the JSON does not matter: it is the same invoice.
    reordered = dict(reversed(list(invoice().items())))
    assert (await export(client, reordered, headers=headers)).json()["id"] == first.json()["id"]
    other = await export(client, invoice(comment="Another text"), headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    await run_worker_burst(db.settings)
    assert len(puts(sandbox)) == 1
    after = await export(client, invoice(), headers=headers)
    assert (after.json()["id"], after.json()["status"]) == (first.json()["id"], "sent")
    await run_worker_burst(db.settings)
    assert len(puts(sandbox)) == 1
    listed = (await client.get(INVOICES)).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]


@pytest.mark.slow
async def test_preflight_reports_every_problem_with_row_code_and_fix(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    body = invoice(number="ARVE", customer_code="K999999", due_date="2026-02-01")
    body["rows"][0]["article_code"] = "NOPE"
    body["rows"][0]["vat_code"] = {"id": "vat-x", "name": "Erikord"}
    body["rows"][1]["resource_id"] = "res-new"
    body["rows"].append(
        {"article_code": "PALK", "quantity": "1", "unit_price": "10", "vat_code": {"id": "v0",
         "external_code": "0"}, "resource_id": "res-ghost"}
    )  # fmt: skip
    sandbox.clear_requests()
    for path in (INVOICES, f"{INVOICES}/validate"):
        response = await client.post(path, json=body, headers=key())
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "invoice_invalid"
        found = [(item["code"], item["loc"]) for item in problem["errors"]]
        assert found == [
            ("invoice_number_invalid", ["number"]),
            ("payment_term_invalid", ["due_date"]),
            ("vat_code_missing", ["rows", 0, "vat_code", "external_code"]),
            ("salesman_code_missing", ["rows", 1, "resource_id"]),
            ("salesman_code_missing", ["rows", 2, "resource_id"]),
            ("article_unknown", ["rows", 0, "article_code"]),
            ("customer_unknown", ["customer_code"]),
        ]
        assert all(item["fix"] for item in problem["errors"])
        article = problem["errors"][5]
        assert article["context"] == {"row": 0, "article_code": "NOPE"}
        assert article["fix"].startswith("Import the article into Uku and re-link")
        assert "Uus Töötaja" in problem["errors"][3]["message"]
    assert puts(sandbox) == []
    assert (await client.get(INVOICES)).json()["items"] == []


@pytest.mark.slow
async def test_customer_code_comes_from_the_link_or_is_asked_for(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    body = invoice()
    body.pop("customer_code")
    unlinked = await client.post(f"{INVOICES}/validate", json=body)
    assert (unlinked.status_code, unlinked.json()["code"]) == (422, "customer_code_missing")
    link = await client.put(
        f"/v1/companies/{COMPANY}/clients/client-1/directo/link", json={"customer_code": "K000002"}
    )
    assert link.status_code == 201, link.text
    linked = await client.post(f"{INVOICES}/validate", json=body)
    assert (linked.status_code, linked.json()["customer_code"]) == (200, "K000002")


async def failed_with(
    client: AsyncClient, db: Resources, body: dict[str, Any], code: str
) -> dict[str, Any]:
    exported = await export_and_send(client, db, body)
    assert (exported["status"], exported["error_code"]) == ("failed", code), exported
    (error,) = exported["errors"]
    assert error["code"] == code
    assert error["fix"]
    assert exported["failed_at"] is not None
    return exported


@pytest.mark.slow
async def test_directo_side_errors_map_to_codes_with_fixes(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    # VAT code with an external code Directo does not know.
    body = invoice(number="INV-1")
    body["rows"][1]["vat_code"] = {"id": "vat-77", "external_code": "77"}
    vat = await failed_with(client, db, body, "vat_code_unknown")
    assert vat["errors"][0]["loc"] == ["rows", 1, "vat_code"]
    assert vat["errors"][0]["context"] == {
        "row": 1,
        "code": "77",
        "directo_type": 31,
        "directo_desc": "VAT code not found: 77",
    }
    assert (vat["directo_result_type"], vat["directo_result_desc"]) == (
        31,
        "VAT code not found: 77",
    )
    # A resource code Directo has no salesman/object for.
    body = invoice(number="INV-2")
    body["resources"][0]["external_code"] = "NOBODY"
    salesman = await failed_with(client, db, body, "salesman_unknown")
    assert salesman["errors"][0]["context"]["directo_desc"] == "Salesman not found: NOBODY"
    # An article imported into Uku but since removed in Directo.
    sandbox.database(DATABASE).delete_item("KONS")
    article = await failed_with(client, db, invoice(number="INV-3"), "article_unknown")
    assert article["errors"][0]["loc"] == ["rows", 1, "article_code"]
    # A customer whose card has neither e-mail nor registration number (Type 13).
    missing = await failed_with(
        client,
        db,
        invoice(number="INV-4", customer_code="K000004"),
        "customer_missing_regno_or_email",
    )
    assert missing["directo_result_type"] == 13
    failures = await events(client, "invoice.export_failed")
    assert [event["data"]["error_code"] for event in failures] == [
        "vat_code_unknown",
        "salesman_unknown",
        "article_unknown",
        "customer_missing_regno_or_email",
    ]
    assert await events(client, "invoice.exported") == []


@pytest.mark.slow
async def test_revoked_token_fails_the_export_and_the_connection(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    sandbox.revoke_token("sandbox-token-ee")
    failed = await failed_with(client, db, invoice(), "unauthorized")
    assert "regenerate" in failed["errors"][0]["fix"]
    connection = (await client.get(f"{BASE}/connection")).json()
    assert (connection["health"], connection["last_error_code"]) == (
        "needs_attention",
        "unauthorized",
    )
    assert len(await events(client, "connection.failed")) == 1


@pytest.mark.slow
async def test_a_number_directo_holds_for_another_invoice_fails_as_duplicate(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    other = invoice(customer_code="K000002")
    other_sent = await export_and_send(client, db, other)
    assert other_sent["status"] == "sent"
    duplicate = await failed_with(client, db, invoice(), "duplicate_number")
    assert duplicate["errors"][0]["context"]["directo_type"] == 11
    assert "K000002" in duplicate["errors"][0]["message"]
    assert len(puts(sandbox)) == 2
    stored = directo_invoice(sandbox, 20260042)
    assert stored is not None
    assert stored["customercode"] == "K000002"


@pytest.mark.slow
async def test_exporting_the_same_invoice_under_a_new_key_adopts_the_directo_invoice(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    first = await export_and_send(client, db, invoice())
    second = await export_and_send(client, db, invoice())
    assert first["id"] != second["id"]
    assert (second["status"], second["directo_result_type"]) == ("sent", 11)
    assert len(puts(sandbox)) == 2  # Directo answered the second put "Duplicate"
    assert len(sandbox.database(DATABASE).invoices) == 1


@pytest.mark.slow
async def test_get_and_list_with_filters_and_cursor(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    ids = []
    for number in range(1, 6):
        response = await export(
            client, invoice(number=f"INV-{number}", client_id=f"c-{number % 2}")
        )
        ids.append(response.json()["id"])
    bad = invoice(number="INV-9")
    bad["rows"][0]["vat_code"]["external_code"] = "77"
    ids.append((await export(client, bad)).json()["id"])
    await run_worker_burst(db.settings)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(INVOICES, params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert "xml_sent" not in (await client.get(INVOICES)).json()["items"][0]
    failed = (await client.get(INVOICES, params={"status": "failed"})).json()["items"]
    assert [item["id"] for item in failed] == [ids[-1]]
    unpaid = (await client.get(INVOICES, params={"payment_status": "unpaid"})).json()["items"]
    assert len(unpaid) == 5
    odd = (await client.get(INVOICES, params={"client_id": "c-1"})).json()["items"]
    assert len(odd) == 3
    paid = (await client.get(INVOICES, params={"paid_since": "2026-01-01"})).json()["items"]
    assert paid == []
    for params in ({"status": "lost"}, {"payment_status": "x"}, {"paid_since": "yesterday"},
                   {"cursor": "not-a-cursor"}, {"limit": 0}):  # fmt: skip
        response = await client.get(INVOICES, params=params)
        assert response.status_code == 422, (params, response.text)
    other = "/v1/companies/firm-other/directo/invoices"
    assert (await client.get(f"{other}/{ids[0]}")).status_code == 404
    assert (await client.get(other)).json()["items"] == []
    assert (await client.get(f"{INVOICES}/not-a-uuid")).status_code == 422


@pytest.mark.slow
async def test_bad_input_is_a_clear_4xx_never_a_500(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await ready(client, db, sandbox)
    huge = invoice()
    huge["rows"][0] |= {"quantity": "999999999999", "unit_price": "999999999999"}
    overflow = invoice(invoice_date="9999-12-30", due_date=None, billing={"due_date_days": 30})
    cases: list[tuple[dict[str, Any], int, str]] = [
        (invoice(comment="nul \x00 here"), 422, "validation_failed"),
        (invoice(resources=[{"id": "r\ud800", "external_code": "X"}]), 422, "validation_failed"),
        (invoice(client_id="client one"), 422, "validation_failed"),
        (invoice(rows=[]), 422, "validation_failed"),
        (invoice(currency="euro"), 422, "validation_failed"),
        (invoice(unknown_field=1), 422, "validation_failed"),
        (huge, 422, "invoice_invalid"),
        (overflow, 422, "invoice_invalid"),
        (invoice(callback_url="ftp://example.com/x"), 422, "url_invalid"),
    ]
    for body, status, code in cases:
        for path in (INVOICES, f"{INVOICES}/validate"):
            if path.endswith("validate") and "callback_url" in body:
                continue
            # json.dumps escapes what UTF-8 cannot carry (a lone surrogate) as \\uXXXX
            response = await client.post(
                path,
                content=json.dumps(body),
                headers={**key(), "Content-Type": "application/json"},
            )
            assert (response.status_code, response.json()["code"]) == (status, code), (
                path,
                body,
                response.text,
            )
    odd_key = await client.post(INVOICES, json=invoice(), headers={"Idempotency-Key": "a\tb"})
    assert (odd_key.status_code, odd_key.json()["code"]) == (400, "idempotency_key_invalid")
    long_key = await client.post(INVOICES, json=invoice(), headers={"Idempotency-Key": "k" * 256})
    assert long_key.status_code == 422
    # Signed as the API signs, but with a time that has no offset (it never issues one).
    naive = Cursors.from_settings(db.settings).after_row(
        "exports", dt.datetime(2026, 1, 1), uuid.UUID(int=0)
    )
    for params in ({"cursor": naive}, {"client_id": "a b"}, {"client_id": ""}):
        response = await client.get(INVOICES, params=params)
        assert response.status_code == 422, (params, response.text)
    assert puts(sandbox) == []
