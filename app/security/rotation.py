"""Key rotation: re-seal every stored secret under the primary (first) encryption key.

Run after prepending a new key to `GATEWAY_ENCRYPTION__KEYS`; once it reports nothing left
under old keys, the old key can be removed from the settings. Safe to run again (rows
already under the primary key are skipped) and while the service runs (each row is
re-sealed under a row lock).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.service import token_context
from app.db.models import Connection, WebhookEndpoint
from app.db.repositories import system as system_repo
from app.db.repositories.system import SecretRow
from app.security.crypto import Sealed, SecretBox
from app.webhooks.service import callback_context, endpoint_context


def _reseal(row: SecretRow, secrets: SecretBox) -> str:
    """Re-seal one row's secret in place; returns what kind of row it was."""
    if isinstance(row, Connection):
        sealed = secrets.reseal(
            Sealed(row.token_encrypted, row.token_key_id), context=token_context(row.id)
        )
        row.token_encrypted, row.token_key_id = sealed.ciphertext, sealed.key_id
        return "connections"
    context = (
        endpoint_context(row.id)
        if isinstance(row, WebhookEndpoint)
        else callback_context(row.company_id)
    )
    sealed = secrets.reseal(Sealed(row.secret_encrypted, row.secret_key_id), context=context)
    row.secret_encrypted, row.secret_key_id = sealed.ciphertext, sealed.key_id
    return "webhook_endpoints" if isinstance(row, WebhookEndpoint) else "callback_secrets"


async def rotate_secrets(session: AsyncSession, secrets: SecretBox) -> Counter[str]:
    """Re-seal what is not under the primary key; counts per kind of row
    (`connections`, `webhook_endpoints`, `callback_secrets`)."""
    rows = await system_repo.rows_sealed_with_other_keys(session, secrets.primary_key_id)
    counts = Counter(_reseal(row, secrets) for row in rows)
    await session.flush()
    return counts
