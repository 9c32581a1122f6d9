"""Key rotation re-seals every stored secret; afterwards the old key can go."""

from __future__ import annotations

import base64
import dataclasses

from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import select

from app.connections.service import credentials_of, retest
from app.db.models import CallbackSecret, Connection, WebhookEndpoint
from app.directo.sandbox import SandboxState
from app.resources import Resources
from app.security.crypto import SecretBox
from app.security.rotation import rotate_secrets
from app.webhooks import service as webhook_service

NEW_KEY = SecretStr("k-new:" + base64.urlsafe_b64encode(b"N" * 32).decode())


async def test_rotation_round_trips_and_the_old_key_can_be_dropped(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await client.put("/v1/companies/firm-1/directo", json={})
    assert (
        await client.put(
            "/v1/companies/firm-1/directo/connection", json={"token": "sandbox-token-ee"}
        )
    ).status_code == 201
    endpoint = (
        await client.post(
            "/v1/companies/firm-1/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"}
        )
    ).json()
    callback_secret = (await client.post("/v1/companies/firm-1/callback-secret/reveal")).json()[
        "secret"
    ]
    old_keys = db.settings.encryption.keys

    rotating = SecretBox([NEW_KEY, *old_keys])
    async with db.sessionmaker() as session, session.begin():
        report = await rotate_secrets(session, rotating)
    assert report == {"connections": 1, "webhook_endpoints": 1, "callback_secrets": 1}
    async with db.sessionmaker() as session, session.begin():
        assert await rotate_secrets(session, rotating) == {}  # idempotent

    new_only = SecretBox([NEW_KEY])
    async with db.sessionmaker() as session:
        connection = await session.scalar(select(Connection))
        stored_endpoint = await session.scalar(select(WebhookEndpoint))
        callback = await session.scalar(select(CallbackSecret))
    assert connection is not None
    assert stored_endpoint is not None
    assert callback is not None
    assert {connection.token_key_id, stored_endpoint.secret_key_id, callback.secret_key_id} == {
        "k-new"
    }
    assert credentials_of(connection, new_only).token == "sandbox-token-ee"
    assert webhook_service.endpoint_secret(stored_endpoint, new_only) == endpoint["secret"]
    assert webhook_service.open_callback_secret(callback, new_only) == callback_secret

    # The service keeps working with only the new key configured.
    rotated = dataclasses.replace(db, secrets=new_only)
    async with rotated.sessionmaker() as session, session.begin():
        _, test = await retest(
            session, company_id="firm-1", client_id=None, directo=rotated.directo, secrets=new_only
        )
    assert test.ok is True
