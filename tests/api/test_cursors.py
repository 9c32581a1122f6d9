"""List cursors are signed positions: a forged, tampered, replayed (another list's) or
foreign-key cursor is `422 cursor_invalid` — never a database error taken for an outage, as
the issue's extreme dates were — and a cursor outlives a key rotation while the old key is
still configured."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from app.api.pagination import Cursors
from app.config import EncryptionSettings, Settings
from app.errors import AppError
from app.main import create_app
from app.resources import Resources
from app.webhooks.outbox import emit
from app.webhooks.types import EventType
from tests.conftest import API_KEY
from tests.support.helpers import logged_events, problem_of

COMPANY = "firm-cursors"
BASE = f"/v1/companies/{COMPANY}"
UUID0 = "00000000-0000-0000-0000-000000000000"
PLUS_14 = dt.timezone(dt.timedelta(hours=14))
CURSOR_INVALID = {
    "type": "urn:directo-gateway:problem:cursor_invalid",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "The cursor is not one this API issued for this list (or the key that signed "
    "it is gone); start again from the first page.",
    "code": "cursor_invalid",
    "errors": [],
}


def unsigned(position: dict[str, Any]) -> str:
    """A cursor as the API used to issue them (base64 JSON): what a forger can write."""
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def a_key(key_id: str) -> str:
    return f"{key_id}:" + base64.urlsafe_b64encode(key_id.encode().ljust(32, b"#")).decode()


def with_keys(settings: Settings, *keys: str) -> Settings:
    encryption = EncryptionSettings(keys=[SecretStr(key) for key in keys])
    return settings.model_copy(update={"encryption": encryption})


@contextlib.asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://gw.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as http,
    ):
        yield http


async def _endpoint(client: AsyncClient) -> str:
    created = await client.post(
        f"{BASE}/webhook-endpoints", json={"url": "http://127.0.0.1:9/hostile"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


# ---------------------------------------------------------------------------------------
# Cursors


def _forgeries(cursors: Cursors) -> dict[str, tuple[str, str]]:
    """name → (list, cursor): what a client could send instead of a cursor it was given."""
    year_1 = dt.datetime(1, 1, 1, tzinfo=PLUS_14)
    signed_exports = cursors.after_row("exports", dt.datetime.now(dt.UTC), uuid.UUID(UUID0))
    tag = signed_exports.partition(".")[2]
    stranger = Cursors([a_key("stranger")])
    return {
        "exports: year 1 at +14:00 (the issue's)": (
            "exports",
            unsigned({"c": "0001-01-01T00:00:00+14:00", "i": UUID0}),
        ),
        "exports: year 9999": ("exports", unsigned({"c": "9999-12-31T23:59:59-14:00", "i": UUID0})),
        "deliveries: year 9999 at -14:00 (the issue's)": (
            "deliveries",
            unsigned({"created_at": "9999-12-31T23:59:59-14:00", "id": UUID0}),
        ),
        "customers: NUL in the code": ("customers", unsigned({"after": "a\x00b"})),
        "articles: unpaired surrogate": ("articles", unsigned({"after": "a\ud800b"})),
        "garbage": ("exports", "!!!not-a-cursor"),
        "empty": ("customers", ""),
        "signed, but year 1": ("exports", cursors.after_row("exports", year_1, uuid.UUID(UUID0))),
        "signed, but no offset": (
            "deliveries",
            cursors.after_row("deliveries", dt.datetime(2026, 1, 1), uuid.UUID(UUID0)),
        ),
        "signed, but a code of 65 characters": (
            "articles",
            cursors.after_code("articles", "x" * 65),
        ),
        "another list's cursor": ("exports", cursors.after_code("customers", "K001")),
        "payload swapped under a valid tag": (
            "exports",
            unsigned({"t": "0001-01-01T00:00:00+14:00", "i": UUID0}) + "." + tag,
        ),
        "signed by a key not configured": (
            "exports",
            stranger.after_row("exports", dt.datetime.now(dt.UTC), uuid.UUID(UUID0)),
        ),
    }


async def test_forged_cursors_are_cursor_invalid_and_never_an_outage(
    client: AsyncClient, db: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the issue's extreme dates reached asyncpg, whose encoding error was taken for
    a lost database (503 database_unavailable, Retry-After, an outage logged)."""
    assert (await client.put(f"{BASE}/directo", json={})).status_code == 201
    urls = {
        "exports": f"{BASE}/directo/invoices",
        "deliveries": f"{BASE}/webhook-endpoints/{await _endpoint(client)}/deliveries",
        "customers": f"{BASE}/directo/customers",
        "articles": f"{BASE}/directo/articles",
    }
    problems = []
    for name, (page, cursor) in _forgeries(Cursors.from_settings(db.settings)).items():
        response = await client.get(urls[page], params={"cursor": cursor})
        if (response.status_code, problem_of(response)) != (422, CURSOR_INVALID):
            problems.append(f"{name}: {response.status_code} {response.text}")
    assert problems == []
    assert logged_events(caplog, at_least=logging.WARNING) == []  # no outage logged


@pytest.mark.slow
async def test_cursors_page_on_and_outlive_a_key_rotation(
    client: AsyncClient, db: Resources
) -> None:
    """A cursor signed under the old key reads on replicas that still have it (the new key
    first), and is refused once the old key is gone — the client starts over."""
    endpoint = await _endpoint(client)
    for n in range(5):
        async with db.sessionmaker() as session, session.begin():
            await emit(session, company_id=COMPANY, type_=EventType.INVOICE_PAID, payload={"n": n})
    url = f"{BASE}/webhook-endpoints/{endpoint}/deliveries"
    first = (await client.get(url, params={"limit": 3})).json()
    [old] = [secret.get_secret_value() for secret in db.settings.encryption.keys]
    new = a_key("next")

    async with api(with_keys(db.settings, new, old)) as rotated:
        second = await rotated.get(url, params={"limit": 3, "cursor": first["next_cursor"]})
        assert second.status_code == 200, second.text
        ids = [item["id"] for item in first["items"] + second.json()["items"]]
        assert len(set(ids)) == 5
        assert second.json()["next_cursor"] is None
    async with api(with_keys(db.settings, new)) as retired:
        gone = await retired.get(url, params={"cursor": first["next_cursor"]})
        assert (gone.status_code, problem_of(gone)) == (422, CURSOR_INVALID)


CURSORS = Cursors([a_key("k1")])


@given(
    page=st.sampled_from(["exports", "deliveries", "customers", "articles"]),
    position=st.dictionaries(
        st.sampled_from(["t", "i", "k", "c"]),
        st.one_of(st.text(), st.integers(), st.none(), st.datetimes().map(str)),
    ),
)
def test_any_signed_position_reads_as_a_bounded_value_or_cursor_invalid(
    page: str, position: dict[str, Any]
) -> None:
    """Even a well-signed cursor is checked: a time aware and within bounds (UTC), a
    storable code of at most 64 characters — or cursor_invalid, never another error."""
    cursor = CURSORS._issue(page, position)
    for read in (CURSORS.read_row, CURSORS.read_code):
        value: object
        try:
            value = read(page, cursor)
        except AppError as refused:
            value = refused
        if isinstance(value, AppError):
            assert value.code == "cursor_invalid"
        elif isinstance(value, tuple):
            assert value[0].utcoffset() == dt.timedelta(0)
            assert 1970 <= value[0].year < 3000
        else:
            assert isinstance(value, str), value
            assert len(value) <= 64
            assert "\x00" not in value


@given(cursor=st.text(max_size=600))
def test_any_text_as_a_cursor_is_refused_cleanly(cursor: str) -> None:
    for read in (CURSORS.read_row, CURSORS.read_code):
        with pytest.raises(AppError) as refused:
            read("exports", cursor)
        assert refused.value.code == "cursor_invalid"
