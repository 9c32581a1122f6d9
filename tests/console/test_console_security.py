"""The console's security without a browser: off without keys, sign-in, cookie flags,
CSRF on every POST, sessions that expire or lose their key, and an audit line per action."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.config import Settings
from app.console.session import COOKIE_NAME, SessionSigner, key_fingerprint, match_key
from app.main import create_app
from app.resources import Resources
from tests.support.console import (
    OPS_KEY,
    ROTATED_OPS_KEY,
    console_settings,
    csrf_of,
    sign_in,
)

PAGES = ["/ops", "/ops/jobs", "/ops/reloads", "/ops/exports", "/ops/webhooks"]


@pytest.fixture
async def console(db: Resources) -> AsyncIterator[AsyncClient]:
    """A browser-like client (cookies, no API key) of an app with the console on."""
    app = create_app(console_settings(db.settings))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            yield http


async def test_the_console_is_off_without_operations_keys(db: Resources) -> None:
    app = create_app(db.settings)
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            for path in [*PAGES, "/ops/sign-in", "/ops/static/console.css"]:
                assert (await http.get(path)).status_code == 404, path
            refused = await http.post("/ops/sign-in", data={"key": OPS_KEY})
            assert refused.status_code == 404


async def test_pages_need_a_sign_in_and_come_back_after_it(console: AsyncClient) -> None:
    for path in PAGES:
        answer = await console.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/ops/sign-in?next=/ops"), answer.headers
    # Live fragments are polled by script: they answer 401, not a redirect.
    assert (await console.get("/ops/jobs/live")).status_code == 401
    form = await console.get("/ops/sign-in", params={"next": "/ops/webhooks"})
    signed_in = await console.post(
        "/ops/sign-in",
        data={"csrf_token": csrf_of(form.text), "key": OPS_KEY, "next": "/ops/webhooks"},
    )
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/ops/webhooks")
    for path in PAGES:
        page = await console.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<h1>" in page.text


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, object]]:
    """What the app logged as `event` (structlog's event dicts, as the handler got them)."""
    return [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == event
    ]


async def test_a_wrong_key_is_a_clear_401_on_the_sign_in_page(
    console: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    form = await console.get("/ops/sign-in")
    wrong = await console.post(
        "/ops/sign-in", data={"csrf_token": csrf_of(form.text), "key": "not-the-key"}
    )
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("text/html")
    assert "That operations key is not valid" in wrong.text
    assert "Traceback" not in wrong.text
    assert [entry["reason"] for entry in _logged(caplog, "ops_sign_in_refused")] == ["wrong_key"]
    assert (await console.get("/ops")).status_code == 303  # still signed out
    # An API key is not an operations key.
    api_key = "test-api-key"
    again = await console.post(
        "/ops/sign-in", data={"csrf_token": csrf_of(wrong.text), "key": api_key}
    )
    assert again.status_code == 401


async def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(
    console: AsyncClient,
) -> None:
    form = await console.get("/ops/sign-in")
    anonymous = form.headers["set-cookie"].lower()
    assert "httponly" in anonymous
    assert "samesite=strict" in anonymous
    assert "path=/ops" in anonymous
    assert "secure" not in anonymous  # plain http on a developer machine
    signed_in = await console.post(
        "/ops/sign-in",
        data={"csrf_token": csrf_of(form.text), "key": OPS_KEY},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"].lower()
    for flag in ("httponly", "samesite=strict", "secure", "path=/ops", "max-age=28800"):
        assert flag in cookie, cookie
    assert OPS_KEY not in signed_in.headers["set-cookie"]


async def test_every_post_needs_the_sessions_csrf_token(console: AsyncClient) -> None:
    # Signing in with a form from another session (or none) is refused.
    stale = await console.post("/ops/sign-in", data={"csrf_token": "forged", "key": OPS_KEY})
    assert stale.status_code == 403
    assert "expired" in stale.text
    csrf = await sign_in(console)
    posts = [
        ("/ops/reloads", {"company": "acme", "months": "12"}),
        ("/ops/webhooks/deliveries/00000000-0000-0000-0000-000000000000/redeliver", {}),
        ("/ops/sign-out", {}),
    ]
    for path, fields in posts:
        for token in (None, "", "forged", csrf[:-1]):
            data = fields if token is None else {**fields, "csrf_token": token}
            refused = await console.post(path, data=data)
            assert refused.status_code == 403, (path, token)
            assert "Form refused" in refused.text
    assert (await console.get("/ops")).status_code == 200  # sign-out was refused too
    signed_out = await console.post("/ops/sign-out", data={"csrf_token": csrf})
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/ops/sign-in")
    assert (await console.get("/ops")).status_code == 303


async def test_a_tampered_or_foreign_cookie_is_no_session(console: AsyncClient) -> None:
    await sign_in(console)
    cookie = console.cookies[COOKIE_NAME]
    payload, _, tag = cookie.partition(".")
    for forged in (payload + "." + tag[::-1], payload[:-2] + "." + tag, "garbage", ""):
        console.cookies.clear()
        console.cookies.set(COOKIE_NAME, forged, domain="gateway.test", path="/ops")
        assert (await console.get("/ops")).status_code == 303, forged


def test_sessions_expire_and_die_with_their_key(settings: Settings) -> None:
    signer = SessionSigner(console_settings(settings))
    operator = match_key(ROTATED_OPS_KEY, console_settings(settings).ops.keys)
    assert operator == key_fingerprint(ROTATED_OPS_KEY)
    assert match_key("nope", console_settings(settings).ops.keys) is None
    session = signer.new(operator, now=1_000_000)
    cookie = signer.dump(session)
    assert signer.load(cookie, now=1_000_001) == session
    assert signer.load(cookie, now=1_000_000 + signer.lifetime) is None
    # The rotated key removed from the settings: its sign-ins end.
    rotated_out = SessionSigner(console_settings(settings, OPS_KEY))
    assert rotated_out.load(cookie, now=1_000_001) is None


async def test_actions_are_logged_with_the_keys_fingerprint_never_the_key(
    console: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    csrf = await sign_in(console, ROTATED_OPS_KEY)
    await console.post("/ops/sign-out", data={"csrf_token": csrf})
    actions = _logged(caplog, "ops_action")
    assert [(entry["action"], entry["operator"]) for entry in actions] == [
        ("sign_in", key_fingerprint(ROTATED_OPS_KEY)),
        ("sign_out", key_fingerprint(ROTATED_OPS_KEY)),
    ]
    assert ROTATED_OPS_KEY not in caplog.text


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example", "/v1/jobs"])
async def test_sign_in_never_sends_the_browser_elsewhere(
    console: AsyncClient, next_path: str
) -> None:
    form = await console.get("/ops/sign-in")
    signed_in = await console.post(
        "/ops/sign-in",
        data={"csrf_token": csrf_of(form.text), "key": OPS_KEY, "next": next_path},
    )
    assert signed_in.headers["location"] == "/ops"
