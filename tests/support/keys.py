"""Support for tests of encryption keys: a second key, settings with another key ring, and
an API client for a replica configured with them (same database and queue)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from app.config import DEV_ENCRYPTION_KEY, EncryptionSettings, Settings
from app.main import create_app
from tests.conftest import API_KEY

OLD_KEY = SecretStr(DEV_ENCRYPTION_KEY)  # what the test settings seal with ("dev")
NEW_KEY = SecretStr("k-new:" + base64.urlsafe_b64encode(b"N" * 32).decode())


def with_keys(settings: Settings, *keys: SecretStr) -> Settings:
    """The same settings with another key ring (the first key seals)."""
    return settings.model_copy(update={"encryption": EncryptionSettings(keys=list(keys))})


def keys_env(*keys: SecretStr) -> str:
    """`GATEWAY_ENCRYPTION__KEYS` for a CLI run with this ring."""
    return ",".join(key.get_secret_value() for key in keys)


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """An authenticated client of a fresh app (its own process state) on `settings`."""
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://replica.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as http,
    ):
        yield http
