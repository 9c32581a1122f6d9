"""Key rotation: re-seal every stored secret under the primary (first) encryption key.

Run after prepending a new key to `GATEWAY_ENCRYPTION__KEYS`; once it reports nothing left
under old keys, the old key can be removed from the settings. Safe to run again (rows
already under the primary key are skipped) and while the service runs (each row is
re-sealed under a row lock).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Connection, WebhookEndpoint
from app.db.repositories import system as system_repo
from app.db.repositories.system import SecretRow
from app.security.contexts import callback_context, endpoint_context, token_context
from app.security.crypto import EncryptionKeyMissing, Sealed, SecretBox, SecretDecryptionError


class RotationFailed(Exception):
    """A stored secret could not be opened, so rotation stopped; the caller rolls back, so
    nothing is re-encrypted. The message names the row and the fix, never the secret."""

    def __init__(self, row: SecretRow, cause: SecretDecryptionError) -> None:
        kind, row_id = _describe(row)
        if isinstance(cause, EncryptionKeyMissing):
            self.code = cause.code
            detail = (
                f"{kind} {row_id} is sealed under key {cause.key_id!r}, which is not "
                "configured; keep every old key in GATEWAY_ENCRYPTION__KEYS (after the new "
                "one) until rotate-keys succeeds"
            )
        else:
            self.code = "secret_undecryptable"
            detail = (
                f"{kind} {row_id} failed to decrypt (altered or copied ciphertext); "
                "replace that secret (store the token again, or recreate the endpoint / "
                "rotate the callback secret), then run rotate-keys again"
            )
        super().__init__(detail)
        self.detail = detail


def _describe(row: SecretRow) -> tuple[str, str]:
    if isinstance(row, Connection):
        return "connection", str(row.id)
    if isinstance(row, WebhookEndpoint):
        return "webhook endpoint", str(row.id)
    return "callback secret of company", repr(row.company_id)


def _reseal(row: SecretRow, secrets: SecretBox) -> str:
    """Re-seal one row's secret in place; returns what kind of row it was."""
    try:
        return _reseal_row(row, secrets)
    except SecretDecryptionError as exc:
        raise RotationFailed(row, exc) from exc


def _reseal_row(row: SecretRow, secrets: SecretBox) -> str:
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
    (`connections`, `webhook_endpoints`, `callback_secrets`).

    Raises RotationFailed at the first secret that cannot be opened (a key missing from the
    ring, or a damaged ciphertext); the caller's transaction must then roll back.
    """
    rows = await system_repo.rows_sealed_with_other_keys(session, secrets.primary_key_id)
    counts = Counter(_reseal(row, secrets) for row in rows)
    await session.flush()
    return counts
