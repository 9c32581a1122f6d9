"""Key rotation: re-seal every stored secret under the primary (first) encryption key.

Run after prepending a new key to `GATEWAY_ENCRYPTION__KEYS`; once it reports nothing left
under old keys, the old key can be removed from the settings. Safe to run again (rows
already under the primary key are skipped) and while the service runs (each row is
re-sealed under a row lock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.service import token_context
from app.db.models import CallbackSecret, Connection, WebhookEndpoint
from app.security.crypto import Sealed, SecretBox
from app.webhooks.service import callback_context, endpoint_context


@dataclass(frozen=True, slots=True)
class RotationReport:
    connections: int
    webhook_endpoints: int
    callback_secrets: int

    @property
    def total(self) -> int:
        return self.connections + self.webhook_endpoints + self.callback_secrets


async def rotate_secrets(session: AsyncSession, secrets: SecretBox) -> RotationReport:
    """Re-seal what is not under the primary key; returns how many of each were re-sealed."""
    primary = secrets.primary_key_id
    connections = 0
    for connection in await session.scalars(
        select(Connection).where(Connection.token_key_id != primary).with_for_update()
    ):
        sealed = secrets.reseal(
            Sealed(connection.token_encrypted, connection.token_key_id),
            context=token_context(connection.id),
        )
        connection.token_encrypted, connection.token_key_id = sealed.ciphertext, sealed.key_id
        connections += 1
    endpoints = 0
    for endpoint in await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.secret_key_id != primary).with_for_update()
    ):
        sealed = secrets.reseal(
            Sealed(endpoint.secret_encrypted, endpoint.secret_key_id),
            context=endpoint_context(endpoint.id),
        )
        endpoint.secret_encrypted, endpoint.secret_key_id = sealed.ciphertext, sealed.key_id
        endpoints += 1
    callbacks = 0
    for record in await session.scalars(
        select(CallbackSecret).where(CallbackSecret.secret_key_id != primary).with_for_update()
    ):
        sealed = secrets.reseal(
            Sealed(record.secret_encrypted, record.secret_key_id),
            context=callback_context(record.company_id),
        )
        record.secret_encrypted, record.secret_key_id = sealed.ciphertext, sealed.key_id
        callbacks += 1
    await session.flush()
    return RotationReport(connections, endpoints, callbacks)
