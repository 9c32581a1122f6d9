"""The operations console in tests: its keys, settings that switch it on, and signing in."""

from __future__ import annotations

import asyncio
import re
import threading

import uvicorn
from httpx import AsyncClient
from pydantic import SecretStr

from app.config import OpsSettings, Settings
from app.main import create_app
from tests.support.receiver import free_port
from tests.support.waiting import wait_until

OPS_KEY = "ops-key-for-tests-0123456789"
ROTATED_OPS_KEY = "ops-key-for-tests-rotated-42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_settings(settings: Settings, *keys: str) -> Settings:
    """`settings` with the console on (these operations keys; default both test keys)."""
    ops = OpsSettings(keys=[SecretStr(key) for key in keys or (OPS_KEY, ROTATED_OPS_KEY)])
    return settings.model_copy(update={"ops": ops})


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(http: AsyncClient, key: str = OPS_KEY) -> str:
    """Sign `http` in (it keeps the cookie); returns the signed-in session's CSRF token."""
    form = await http.get("/ops/sign-in")
    assert form.status_code == 200, form.text
    signed_in = await http.post(
        "/ops/sign-in", data={"csrf_token": csrf_of(form.text), "key": key, "next": "/ops"}
    )
    assert signed_in.status_code == 303, signed_in.text
    page = await http.get("/ops")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


class LiveGateway:
    """The real app under uvicorn on loopback, in a thread with its own event loop (what a
    browser talks to); `async with` starts it and stops it."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-gateway", daemon=True)

    async def __aenter__(self) -> LiveGateway:
        self.thread.start()
        await wait_until(lambda: self.server.started or not self.thread.is_alive(), what="start")
        if not self.thread.is_alive():
            raise RuntimeError("the gateway did not start")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 30)
