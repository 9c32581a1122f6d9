"""The request-body limit (`GATEWAY_API__MAX_BODY_BYTES`): a body over it is a 413
`body_too_large` problem, decided from a declared `Content-Length` before any of the body is
read, or while a body without one streams in — never after buffering it. The API key is
checked first: an anonymous caller gets 401 and its body is never read at all."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.config import ApiSettings, Settings
from app.main import create_app
from app.resources import Resources
from tests.conftest import API_KEY
from tests.support.exports_helpers import invoice, key
from tests.support.helpers import problem_of

LIMIT = 64 * 1024
CHUNK = 8 * 1024
ENDPOINTS = "/v1/companies/firm-limits/webhook-endpoints"
TOO_LARGE = {
    "type": "urn:directo-gateway:problem:body_too_large",
    "title": "Content Too Large",
    "status": 413,
    "detail": f"The request body is larger than {LIMIT} bytes, the most this gateway accepts.",
    "code": "body_too_large",
    "errors": [],
}


@dataclass
class Upload:
    """A body sent in chunks, counting how many the server asked for."""

    size: int
    pulled: int = field(default=0)

    async def chunks(self) -> AsyncIterator[bytes]:
        # JSON text, so that a body within the limit is a valid (if odd) request.
        sent = 0
        while sent < self.size:
            self.pulled += 1
            piece = min(CHUNK, self.size - sent)
            yield (b'{"url":"' if sent == 0 else b"") + b"a" * (piece - (8 if sent == 0 else 0))
            sent += piece


def limited(settings: Settings, limit: int = LIMIT) -> Settings:
    api = ApiSettings(keys=settings.api.keys, max_body_bytes=limit)
    return settings.model_copy(update={"api": api})


@contextlib.asynccontextmanager
async def api(settings: Settings, *, authorization: str) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://gw.test",
            headers={"Authorization": authorization, "Content-Type": "application/json"},
        ) as http,
    ):
        yield http


@pytest.fixture
async def limited_client(db: Resources) -> AsyncIterator[AsyncClient]:
    async with api(limited(db.settings), authorization=f"Bearer {API_KEY}") as http:
        yield http


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    limited_client: AsyncClient,
) -> None:
    upload = Upload(150 * 1024 * 1024)
    response = await limited_client.post(
        ENDPOINTS, content=upload.chunks(), headers={"Content-Length": str(upload.size)}
    )
    assert (response.status_code, problem_of(response)) == (413, TOO_LARGE)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"  # the server stops reading the upload
    assert upload.pulled == 0


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    limited_client: AsyncClient,
) -> None:
    upload = Upload(150 * 1024 * 1024)
    response = await limited_client.post(ENDPOINTS, content=upload.chunks())
    assert "content-length" not in response.request.headers
    assert (response.status_code, problem_of(response)) == (413, TOO_LARGE)
    assert response.headers["connection"] == "close"
    assert upload.pulled == LIMIT // CHUNK + 1  # the chunk that passed the limit, no more


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_of_exactly_the_limit_goes_through(
    limited_client: AsyncClient, declared: bool
) -> None:
    upload = Upload(LIMIT)
    headers = {"Content-Length": str(LIMIT)} if declared else {}
    response = await limited_client.post(ENDPOINTS, content=upload.chunks(), headers=headers)
    assert response.status_code == 422  # read whole and parsed: the JSON is unfinished
    assert response.json()["code"] == "validation_failed"
    assert upload.pulled == LIMIT // CHUNK


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_without_a_key_it_is_401_and_the_body_is_never_read(
    db: Resources, declared: bool
) -> None:
    upload = Upload(150 * 1024 * 1024)
    headers = {"Content-Length": str(upload.size)} if declared else {}
    async with api(limited(db.settings), authorization="Bearer wrong") as anonymous:
        response = await anonymous.post(ENDPOINTS, content=upload.chunks(), headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")
    assert upload.pulled == 0


def largest_invoice() -> dict[str, Any]:
    """The largest body the export accepts: 500 rows and 500 resources, every text at its
    maximum length and non-ASCII (so a client escaping it as \\uXXXX sends 6 bytes each)."""
    code = "K" * 64
    named = {"name": "ä" * 200, "external_code": code}
    row = {
        "article_code": code,
        "description": "ä" * 1000,
        "quantity": "-123456789012.123456",
        "unit_price": "-123456789012.123456",
        "unit": "ä" * 20,
        "vat_code": {"id": code, **named},
        "resource_id": code,
    }
    return invoice(
        number="INV-2026-" + "ä" * 55,
        client_id="c" * 64,
        customer_code=code,
        comment="ä" * 1000,
        rows=[row] * 500,
        resources=[{"id": f"{n:064d}", **named} for n in range(500)],
        billing={"default_user": {"id": code, **named}, "due_date_days": 14},
        callback_url="https://uku.example/" + "a" * 2028,
    )


async def test_the_default_limit_holds_the_largest_invoice_the_export_accepts(
    db: Resources,
) -> None:
    """8 MiB by default; the largest valid invoice, escaped, is ~4.6 MB (ordinary rows take
    ~300 bytes). It passes the limit and the body's validation, and is answered by the
    export's own checks."""
    assert db.settings.api.max_body_bytes == ApiSettings().max_body_bytes == 8 * 1024 * 1024
    body = json.dumps(largest_invoice()).encode()  # ensure_ascii: ä is sent as \u00e4
    assert 4_500_000 < len(body) < 8 * 1024 * 1024
    async with api(db.settings, authorization=f"Bearer {API_KEY}") as http:
        response = await http.post(
            "/v1/companies/firm-limits/directo/invoices/validate", content=body, headers=key()
        )
    assert (response.status_code, response.json()["code"]) == (409, "integration_disabled")


def test_the_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_API__MAX_BODY_BYTES", "10485760")
    assert Settings().api.max_body_bytes == 10 * 1024 * 1024
    monkeypatch.setenv("GATEWAY_API__MAX_BODY_BYTES", "12")
    with pytest.raises(ValueError, match="greater than or equal to 1024"):
        Settings()
