"""The XML Direct client against respx: requests, every error class, retries, timeouts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.directo.client import CallRecord, DirectoClient
from app.directo.credentials import DirectoCredentials, normalize_token
from app.directo.errors import (
    DirectoDecodeError,
    DirectoError,
    DirectoInvalidUrl,
    DirectoOutcomeUnknown,
    DirectoResponseError,
    DirectoTimeout,
    DirectoTokenMissing,
    DirectoTransportError,
    DirectoTruncatedError,
    DirectoUnauthorized,
    DirectoUpstreamError,
)
from app.directo.schemas import DirectoInvoiceInput, PutResultKind
from tests.directo.conftest import BASE_URL, fast_settings, sample

TOKEN = "secret-token-1234567890"
CREDS = DirectoCredentials(TOKEN)
URL = f"{BASE_URL}/xmlcore/cap_xml_direct/xmlcore.asp"
INVOICE = DirectoInvoiceInput(number=20260042, customercode="K0001", date=date(2025, 3, 1))
PUT_OK = (
    b'<results><Result Type="30" Desc="Created" docid="20260042" doctype="ARVE" '
    b'submit="Invoices"/></results>'
)


class Harness:
    def __init__(self, http: httpx.AsyncClient, **settings: object) -> None:
        self.sleeps: list[float] = []
        self.calls: list[CallRecord] = []

        async def sleep(delay: float) -> None:
            self.sleeps.append(delay)

        self.client = DirectoClient(
            http,
            fast_settings(**settings),
            sleep=sleep,
            rng=lambda: 1.0,
            observer=self.calls.append,
        )


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with httpx.AsyncClient() as http:
        yield Harness(http)


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def query(request: httpx.Request) -> dict[str, str]:
    """The URL's query string: routing and filters, never the token or xmldata."""
    return dict(request.url.params)


async def collect(batches: Any) -> list[Any]:
    return [record async for batch in batches for record in batch]


def assert_no_token(error: BaseException) -> None:
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)


# -- credentials ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc", ("abc", False)),
        ("  abc\n", ("abc", True)),
        ("\tab c\u00a0", ("ab c", True)),
        ("\u200babc\ufeff ", ("abc", True)),
        ("", ("", False)),
    ],
)
def test_normalize_token(raw: str, expected: tuple[str, bool]) -> None:
    assert normalize_token(raw) == expected


def test_credentials_never_show_the_token() -> None:
    creds = DirectoCredentials(TOKEN, database_code="demo_ee")
    assert repr(creds) == "DirectoCredentials(token='***', database_code='demo_ee')"
    assert str(creds) == repr(creds)
    assert creds.token_hint == "…7890"
    with pytest.raises(ValueError, match="database code"):
        DirectoCredentials(TOKEN, database_code="../admin")


# -- feeds ---------------------------------------------------------------------------------
@respx.mock
async def test_feed_request_is_a_form_post_with_formatted_filters(harness: Harness) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, content=sample("customers.xml")))
    customers = await collect(
        harness.client.iter_customers(
            CREDS, ts=datetime(2025, 3, 1, 8, 5, 59), code="K0001", closed=False
        )
    )
    assert [c.code for c in customers] == ["K0001"]
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    routing = {
        "get": "1",
        "what": "customer",
        "ts": "01.03.2025 08:05",
        "code": "K0001",
        "closed": "0",
    }
    assert form(request) == {"token": TOKEN, **routing}
    assert query(request) == routing  # in the query string too, the token never
    assert TOKEN not in str(request.url)
    assert request.extensions["timeout"] == {"connect": 2.0, "read": 5.0, "write": 2.0, "pool": 2.0}
    assert [(c.op, c.what, c.attempt, c.status_code, c.error_code) for c in harness.calls] == [
        ("get", "customer", 1, 200, None)
    ]


@respx.mock
@pytest.mark.parametrize(
    ("method", "kwargs", "expected"),
    [
        (
            "iter_items",
            {"ts": date(2025, 1, 2), "closed": True},
            {"what": "item", "ts": "02.01.2025", "closed": "1"},
        ),
        (
            "iter_invoices",
            {
                "date1": date(2025, 1, 1),
                "date2": date(2025, 1, 31),
                "number": 5,
                "customercode": "K1",
            },
            {
                "what": "invoice",
                "date1": "01.01.2025",
                "date2": "31.01.2025",
                "number": "5",
                "customercode": "K1",
            },
        ),
        ("iter_receipts", {"customercode": "K1"}, {"what": "receipt", "customercode": "K1"}),
        ("iter_purchases", {"number": "3"}, {"what": "purchase", "number": "3"}),
        (
            "iter_transactions",
            {"date1": date(2025, 2, 1)},
            {"what": "transaction", "date1": "01.02.2025"},
        ),
    ],
)
async def test_each_feed_sends_its_what_and_filters(
    harness: Harness, method: str, kwargs: dict[str, Any], expected: dict[str, str]
) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, content=b"<transport/>"))
    assert await collect(getattr(harness.client, method)(CREDS, **kwargs)) == []
    assert form(route.calls.last.request) == {"token": TOKEN, "get": "1", **expected}
    assert query(route.calls.last.request) == {"get": "1", **expected}


@respx.mock
async def test_legacy_database_code_uses_its_own_url_and_sends_key(harness: Harness) -> None:
    route = respx.post(f"{BASE_URL}/xmlcore/demo_ee/xmlcore.asp").mock(
        return_value=httpx.Response(200, content=sample("items.xml"))
    )
    creds = DirectoCredentials(TOKEN, database_code="demo_ee")
    assert [item.code for item in await collect(harness.client.iter_items(creds))] == ["TEENUS01"]
    assert form(route.calls.last.request) == {
        "token": TOKEN,
        "key": TOKEN,
        "get": "1",
        "what": "item",
    }
    assert query(route.calls.last.request) == {"get": "1", "what": "item"}


async def test_unknown_filter_is_a_programming_error(harness: Harness) -> None:
    from app.directo import feeds

    with pytest.raises(ValueError, match="no 'code' filter"):
        await collect(harness.client.iter_feed(CREDS, feeds.INVOICES, filters={"code": "x"}))


@respx.mock
async def test_5xx_is_retried_with_full_jitter_then_succeeds(harness: Harness) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, content=sample("items.xml")),
        ]
    )
    assert len(await collect(harness.client.iter_items(CREDS))) == 1
    assert route.call_count == 3
    assert harness.sleeps == [0.01, 0.02]  # rng()=1.0: min(max, base·2ⁿ)
    assert [(c.attempt, c.status_code, c.error_code) for c in harness.calls] == [
        (1, 503, "directo_unavailable"),
        (2, 502, "directo_unavailable"),
        (3, 200, None),
    ]


@respx.mock
@pytest.mark.parametrize(
    ("side_effect", "error", "code"),
    [
        (httpx.Response(503), DirectoUpstreamError, "directo_unavailable"),
        (httpx.Response(429), DirectoUpstreamError, "directo_unavailable"),
        (httpx.ConnectError("refused"), DirectoTransportError, "directo_unavailable"),
        (httpx.ConnectTimeout("slow"), DirectoTimeout, "timeout"),
        (httpx.ReadTimeout("slow"), DirectoTimeout, "timeout"),
        (httpx.RemoteProtocolError("dropped"), DirectoTransportError, "directo_unavailable"),
        (
            httpx.Response(200, content=b"<transport><customers><custo"),
            DirectoTruncatedError,
            "truncated_response",
        ),
    ],
)
async def test_retryable_failures_stop_at_max_attempts(
    harness: Harness, side_effect: Any, error: type[DirectoError], code: str
) -> None:
    route = respx.post(URL).mock(side_effect=side_effect)
    with pytest.raises(error) as caught:
        await collect(harness.client.iter_customers(CREDS))
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.retryable) == (code, True)
    assert route.call_count == 3
    assert len(harness.sleeps) == 2
    assert_no_token(caught.value)


@respx.mock
@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (
            httpx.Response(200, content=sample("unauthorized.xml")),
            DirectoUnauthorized,
            "unauthorized",
        ),
        (
            httpx.Response(200, content=sample("token-required.xml")),
            DirectoTokenMissing,
            "token_missing",
        ),
        (
            httpx.Response(200, content=sample("invalid-url.xml")),
            DirectoInvalidUrl,
            "invalid_url",
        ),
        (httpx.Response(401), DirectoUnauthorized, "unauthorized"),
        (httpx.Response(404), DirectoResponseError, "unexpected_response"),
        (
            httpx.Response(302, headers={"location": "/login"}),
            DirectoResponseError,
            "unexpected_response",
        ),
        (
            httpx.Response(200, content=b"<transport><a></b></transport>"),
            DirectoDecodeError,
            "decode_error",
        ),
    ],
)
async def test_final_failures_are_not_retried(
    harness: Harness, response: httpx.Response, error: type[DirectoError], code: str
) -> None:
    route = respx.post(URL).mock(return_value=response)
    with pytest.raises(error) as caught:
        await collect(harness.client.iter_invoices(CREDS))
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.retryable, route.call_count) == (code, False, 1)
    assert harness.sleeps == []
    assert_no_token(caught.value)


def test_unauthorized_hint_tells_where_to_regenerate_the_key() -> None:
    assert (
        "Personal → Employees → the integration user → Admin tab" in DirectoUnauthorized("x").hint
    )


@respx.mock
async def test_a_stream_cut_after_batches_were_yielded_is_not_retried(harness: Harness) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"<transport><items>" + b'<item code="A"/>' * 40_000  # > two parse blocks
        yield b'<item code="B"/>' * 40_000
        raise httpx.ReadError("connection reset")

    route = respx.post(URL).mock(return_value=httpx.Response(200, content=body()))
    seen: list[int] = []

    async def consume() -> None:
        async for batch in harness.client.iter_items(CREDS, batch_size=500):
            seen.append(len(batch))

    with pytest.raises(DirectoTransportError, match="ReadError") as caught:
        await consume()
    assert sum(seen) > 0
    assert route.call_count == 1
    assert caught.value.retryable is True  # the job may retry the whole feed later


@respx.mock
async def test_closing_a_feed_early_releases_the_stream(harness: Harness) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=sample("customers.xml")))
    async with contextlib.aclosing(harness.client.iter_customers(CREDS)) as batches:
        async for batch in batches:
            assert batch[0].code == "K0001"
            break


# -- puts ----------------------------------------------------------------------------------
@respx.mock
async def test_put_invoices_posts_xmldata_and_returns_results(harness: Harness) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, content=PUT_OK))
    [result] = await harness.client.put_invoices(CREDS, [INVOICE])
    assert (result.type, result.kind, result.docid, result.ok) == (
        30,
        PutResultKind.CREATED,
        "20260042",
        True,
    )
    sent = form(route.calls.last.request)
    assert {k: v for k, v in sent.items() if k != "xmldata"} == {
        "token": TOKEN,
        "put": "1",
        "what": "invoice",
    }
    assert sent["xmldata"].endswith(
        '<invoices><invoice number="20260042" customercode="K0001" date="2025-03-01">'
        "<rows></rows></invoice></invoices>"
    )
    # Routing in the query string too; the token and the document in the body only.
    assert query(route.calls.last.request) == {"put": "1", "what": "invoice"}
    assert route.calls.last.request.extensions["timeout"]["read"] == 2.0


@respx.mock
async def test_put_is_retried_after_connect_errors_only(harness: Harness) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ConnectTimeout("slow"),
            httpx.Response(200, content=PUT_OK),
        ]
    )
    [result] = await harness.client.put_invoices(CREDS, [INVOICE])
    assert result.ok
    assert route.call_count == 3


@respx.mock
async def test_put_connect_errors_give_up_at_max_attempts(harness: Harness) -> None:
    route = respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(DirectoTransportError) as caught:
        await harness.client.put_invoices(CREDS, [INVOICE])
    assert (type(caught.value), route.call_count) == (DirectoTransportError, 3)


@respx.mock
@pytest.mark.parametrize(
    "side_effect",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadError("reset"),
        httpx.WriteTimeout("slow"),
        httpx.Response(503),
        httpx.Response(500),
        httpx.Response(200, content=b'<results><Result Type="30"'),
        httpx.Response(200, content=b"<html>proxy error</html"),
    ],
)
async def test_put_outcome_unknown_is_never_retried(harness: Harness, side_effect: Any) -> None:
    route = respx.post(URL).mock(side_effect=[side_effect, httpx.Response(200, content=PUT_OK)])
    with pytest.raises(DirectoOutcomeUnknown, match="outcome unknown") as caught:
        await harness.client.put_invoices(CREDS, [INVOICE])
    assert route.call_count == 1
    assert (caught.value.code, caught.value.retryable) == ("outcome_unknown", False)
    assert "looked up by number" in caught.value.hint
    assert_no_token(caught.value)


@respx.mock
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (sample("unauthorized.xml"), DirectoUnauthorized),
        (sample("token-required.xml"), DirectoTokenMissing),
        (sample("invalid-url.xml"), DirectoResponseError),
    ],
)
async def test_put_refusals_of_the_whole_request_raise(
    harness: Harness, body: bytes, error: type[DirectoError]
) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=body))
    with pytest.raises(error):
        await harness.client.put_invoices(CREDS, [INVOICE])


@respx.mock
async def test_per_document_failures_are_returned_not_raised(harness: Harness) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=sample("put-results.xml")))
    answers = await harness.client.put_invoices(CREDS, [INVOICE] * 4)
    assert [a.kind for a in answers] == [
        PutResultKind.CREATED,
        PutResultKind.CREATED,
        PutResultKind.DUPLICATE,
        PutResultKind.CUSTOMER_MISSING_REGNO_OR_EMAIL,
    ]


async def test_real_timeouts_are_classified() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as http:
        client = DirectoClient(http, fast_settings(max_attempts=1))
        with pytest.raises(DirectoTimeout, match="ReadTimeout"):
            await collect(client.iter_items(CREDS))
        with pytest.raises(DirectoOutcomeUnknown):
            await client.put_invoices(CREDS, [INVOICE])


def test_retry_delay_is_capped_and_jittered() -> None:
    values = iter([1.0, 0.5, 1.0])
    client = DirectoClient(
        httpx.AsyncClient(),
        fast_settings(retry_base_delay=60, retry_max_delay=600),
        rng=lambda: next(values),
    )
    assert [client.retry_delay(1), client.retry_delay(2), client.retry_delay(5)] == [60, 60, 600]


def test_production_defaults_wait_at_least_a_minute_between_tries() -> None:
    from app.config import DirectoSettings

    client = DirectoClient(httpx.AsyncClient(), DirectoSettings(), rng=lambda: 1.0)
    assert client.retry_delay(1) == 60.0
    assert Decimal(client.retry_delay(4)) == Decimal(480)
