"""Authenticated encryption of stored secrets (Directo tokens, webhook signing secrets).

Each value is sealed with AES-256-GCM under the *first* configured key; the key's id is
stored beside the ciphertext so that any configured key can open it. Rotation: prepend a
new key to `GATEWAY_ENCRYPTION__KEYS`, run `directo-gateway rotate-keys` (re-seals every
secret under the new key), then drop the old key.

The associated data binds a ciphertext to its purpose and owner (e.g. `connection:<id>`), so
a ciphertext copied into another row does not decrypt there.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

_NONCE_BYTES = 12


class SecretDecryptionError(Exception):
    """A stored secret could not be opened: tampered ciphertext, or (the subclass below) a
    key id this process is not configured with. The message never holds the secret.

    Damage is not retried (a job fails `stored_secret_unreadable`; the API answers 409):
    the fix is to store the secret again."""

    code = "stored_secret_unreadable"
    retryable = False


class EncryptionKeyMissing(SecretDecryptionError):
    """The secret is sealed under a key id missing from `GATEWAY_ENCRYPTION__KEYS` — the
    typical state of a replica not yet given the new key when `rotate-keys` ran.

    A configuration fault of this process, not corruption: another replica (or this one,
    once configured) opens it. Hence `retryable` (a job tries again, perhaps on a worker
    that has the key) and the API's answer 503 `encryption_key_missing`.
    """

    code = "encryption_key_missing"
    retryable = True

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"a stored secret is sealed under encryption key {key_id!r}, which this process "
            "is not configured with"
        )
        self.key_id = key_id


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: bytes
    key_id: str


class SecretBox:
    """Seals and opens secrets with a ring of AES-GCM keys; the first key seals."""

    def __init__(self, keys: list[SecretStr]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        self._keys: dict[str, AESGCM] = {}
        for key in keys:
            key_id, _, material = key.get_secret_value().partition(":")
            raw = base64.urlsafe_b64decode(material + "=" * (-len(material) % 4))
            self._keys[key_id] = AESGCM(raw)
        self.primary_key_id = next(iter(self._keys))

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of every configured key (the ones this process can open)."""
        return frozenset(self._keys)

    def seal(self, plaintext: str, *, context: str) -> Sealed:
        """Encrypt under the primary key; `context` must be given again to open it."""
        nonce = os.urandom(_NONCE_BYTES)
        aead = self._keys[self.primary_key_id]
        ciphertext = aead.encrypt(nonce, plaintext.encode(), context.encode())
        return Sealed(ciphertext=nonce + ciphertext, key_id=self.primary_key_id)

    def open(self, sealed: Sealed, *, context: str) -> str:
        """Decrypt; raises EncryptionKeyMissing for a key id not configured here, and
        SecretDecryptionError for a ciphertext that fails authentication (never showing
        the plaintext or a key)."""
        aead = self._keys.get(sealed.key_id)
        if aead is None:
            raise EncryptionKeyMissing(sealed.key_id)
        nonce, body = sealed.ciphertext[:_NONCE_BYTES], sealed.ciphertext[_NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag as exc:
            raise SecretDecryptionError("stored secret failed authentication") from exc

    def needs_reseal(self, sealed: Sealed) -> bool:
        return sealed.key_id != self.primary_key_id

    def reseal(self, sealed: Sealed, *, context: str) -> Sealed:
        """Re-encrypt under the primary key (used by key rotation)."""
        return self.seal(self.open(sealed, context=context), context=context)


def mask_secret(secret: str, *, visible: int = 4) -> str:
    """The last `visible` characters, the only part of a secret ever shown."""
    return secret[-visible:] if len(secret) > visible else ""
