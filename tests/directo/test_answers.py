"""Every shape a put's answer comes in (PROTOCOL §3.5, §7): read as what it is, Directo's
words kept, auth as auth, and whatever cannot be classified an unknown outcome."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
import respx

from app.directo import results
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import (
    DirectoError,
    DirectoInvalidUrl,
    DirectoOutcomeUnknown,
    DirectoResponseError,
    DirectoTokenMissing,
    DirectoUnauthorized,
)
from app.directo.render import render_invoices
from app.directo.sandbox import Faults, SandboxState
from app.directo.sandbox.config import ANSWER_SHAPES
from app.directo.schemas import DirectoInvoiceInput, DirectoInvoiceRowInput, PutResultKind
from tests.directo.conftest import BASE_URL, fast_settings

CREDS = DirectoCredentials("sandbox-token-ee")
URL = f"{BASE_URL}/xmlcore/cap_xml_direct/xmlcore.asp"
MISSING_REGNO = PutResultKind.CUSTOMER_MISSING_REGNO_OR_EMAIL


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'<result type="30" desc="Created"/>', [(30, "Created", PutResultKind.CREATED)]),
        (b'<result type="30">Created</result>', [(30, "Created", PutResultKind.CREATED)]),
        (b'<Result Type="0" Desc="OK" docid="7"/>', [(0, "OK", PutResultKind.CREATED)]),
        (b'<result type="11" desc="Duplicate"/>', [(11, "Duplicate", PutResultKind.DUPLICATE)]),
        (
            b'<results><result type="13" desc="Missing customer email or reg.no"/></results>',
            [
                (
                    13,
                    "Missing customer email or reg.no",
                    PutResultKind.CUSTOMER_MISSING_REGNO_OR_EMAIL,
                )
            ],
        ),
        (
            b'<results><Result Type="9">Artikkel puudub: X1</Result></results>',
            [(9, "Artikkel puudub: X1", PutResultKind.ARTICLE_UNKNOWN)],
        ),
        (
            b'<results><Result Type="0" Desc="OK"/><err>ignored beside a result</err></results>',
            [(0, "OK", PutResultKind.CREATED)],
        ),
        (b"<results/>", []),
    ],
)
def test_results_in_every_shape(body: bytes, expected: list[tuple[int, str, str]]) -> None:
    parsed = results.parse_put_response(body)
    assert [(result.type, result.desc, result.kind) for result in parsed] == expected


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b'<result type="5">Authentication failed</result>', DirectoUnauthorized, "Authentication"),
        (b'<result type="5" desc="Unauthorized"/>', DirectoUnauthorized, "Unauthorized"),
        (b"<error>Invalid API key</error>", DirectoUnauthorized, "Invalid API key"),
        (b"<results><err>Authentication failed</err></results>", DirectoUnauthorized, "failed"),
        (b'<results error="1" message="Access denied"/>', DirectoUnauthorized, "Access denied"),
        (b"<results><err>token required</err></results>", DirectoTokenMissing, "token required"),
        (b"<err>token required</err>", DirectoTokenMissing, "token required"),
        (b'<result type="404" desc="Invalid url given"/>', DirectoInvalidUrl, "Invalid url"),
        (b"<error>Customer not found</error>", DirectoResponseError, "Customer not found"),
        (b'<error desc="Invalid item code"/>', DirectoResponseError, "Invalid item code"),
        (b"<results><err>Midagi l\xc3\xa4ks valesti</err></results>", DirectoResponseError, "läks"),
        (b'<results error="Invalid request format"/>', DirectoResponseError, "request format"),
        (b'<results><Result Desc="Saved?"/></results>', DirectoResponseError, "Saved?"),
        (b"<viga>Vigane p\xc3\xa4ring</viga>", DirectoResponseError, "Vigane"),
        (b"<html><body>Login</body></html>", DirectoResponseError, "unexpected <html>"),
    ],
)
def test_error_answers_keep_directos_words_and_auth_is_auth(
    body: bytes, error: type[DirectoError], words: str
) -> None:
    with pytest.raises(DirectoError) as caught:
        results.parse_put_response(body)
    assert type(caught.value) is error
    assert words in caught.value.message


def _client(http: httpx.AsyncClient, base_url: str = BASE_URL) -> DirectoClient:
    async def no_sleep(_: float) -> None:
        return None

    return DirectoClient(http, fast_settings(base_url), sleep=no_sleep)


INVOICE = DirectoInvoiceInput(
    number=20260042,
    customercode="K000001",
    date=date(2025, 6, 2),
    rows=(
        DirectoInvoiceRowInput(item="KONS", quantity=Decimal(1), price=Decimal(60), vatcode="24"),
    ),
)


@respx.mock
@pytest.mark.parametrize(
    "body",
    [
        b"<error>Customer not found</error>",
        b"<results><err>Midagi juhtus</err></results>",
        b'<results error="1" message="Import katkes"/>',
        b'<results><Result Desc="Saved?"/></results>',
        b'<result type="200" desc="Document stored">',  # cut short
        b"<html><body>Proxy error</body></html>",
    ],
)
async def test_a_put_answer_that_cannot_be_classified_is_an_unknown_outcome(body: bytes) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=body))
    async with httpx.AsyncClient() as http:
        with pytest.raises(DirectoOutcomeUnknown) as caught:
            await _client(http).put_invoices(CREDS, [INVOICE])
    assert caught.value.code == "outcome_unknown"
    assert "outcome unknown" in caught.value.message


@respx.mock
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'<result type="5">Authentication failed</result>', DirectoUnauthorized),
        (b'<results error="1" message="Access denied"/>', DirectoUnauthorized),
        (b"<results><err>token required</err></results>", DirectoTokenMissing),
        (b'<result type="404" desc="Invalid url given"/>', DirectoInvalidUrl),
    ],
)
async def test_whole_request_refusals_of_a_put_stay_what_they_are(
    body: bytes, error: type[DirectoError]
) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=body))
    async with httpx.AsyncClient() as http:
        with pytest.raises(error) as caught:
            await _client(http).put_invoices(CREDS, [INVOICE])
    assert type(caught.value) is error


@respx.mock
async def test_a_bare_created_is_a_success() -> None:
    respx.post(URL).mock(
        return_value=httpx.Response(200, content=b'<result type="30" desc="Created"/>')
    )
    async with httpx.AsyncClient() as http:
        [answer] = await _client(http).put_invoices(CREDS, [INVOICE])
    assert (answer.type, answer.desc, answer.ok, answer.docid) == (30, "Created", True, None)


EXPECTED_BODIES = {
    "results": (
        b'<results><Result Type="30" Desc="Created" docid="20260042" doctype="ARVE"'
        b' submit="Invoices"/></results>'
    ),
    "bare": b'<result type="30" desc="Created"/>',
    "text": b'<result type="30">Created</result>',
    "error": b"<error>Created</error>",
    "err": b"<results><err>Created</err></results>",
    "error_attr": b'<results error="1" message="Created"/>',
}


@pytest.mark.parametrize("shape", sorted(ANSWER_SHAPES))
async def test_the_sandbox_answers_a_put_in_each_shape_after_storing_it(
    state: SandboxState, sandbox_http: httpx.AsyncClient, shape: str
) -> None:
    db = state.database("demo_ee")
    db.set_faults(Faults(answer_shape=shape))
    raw = await sandbox_http.post(
        "/xmlcore/cap_xml_direct/xmlcore.asp",
        data={"token": CREDS.token, "put": "1", "what": "invoice",
              "xmldata": render_invoices([INVOICE])},
    )  # fmt: skip
    assert raw.content.endswith(EXPECTED_BODIES[shape])
    assert db.invoice("20260042") is not None  # stored whatever the answer says
    client = DirectoClient(sandbox_http, fast_settings(str(sandbox_http.base_url)))
    second = INVOICE.model_copy(update={"number": 20260043})
    if shape in {"results", "bare", "text"}:
        [answer] = await client.put_invoices(CREDS, [second])
        assert (answer.type, answer.desc, answer.kind) == (30, "Created", PutResultKind.CREATED)
    else:
        with pytest.raises(DirectoOutcomeUnknown, match="Created"):
            await client.put_invoices(CREDS, [second])
    assert db.invoice("20260043") is not None


async def test_the_answer_shape_is_a_fault_setting_over_the_admin_api(
    state: SandboxState, sandbox_http: httpx.AsyncClient
) -> None:
    faults = "/_sandbox/databases/demo_ee/faults"
    assert (await sandbox_http.put(faults, json={"answer_shape": "bare"})).status_code == 200
    assert state.database("demo_ee").faults.answer_shape == "bare"
    refused = await sandbox_http.put(faults, json={"answer_shape": "xml-rpc"})
    assert refused.status_code == 400
    assert "answer_shape" in refused.json()["error"]
