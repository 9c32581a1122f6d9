"""Bearer API-key authentication with constant-time comparison against every configured key."""

from __future__ import annotations

import hmac

from pydantic import SecretStr


def api_key_is_valid(presented: str, keys: list[SecretStr]) -> bool:
    """True if `presented` equals one of `keys`.

    Every key is compared (no early exit) so timing reveals neither which key matched nor
    how many are configured.
    """
    presented_bytes = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented_bytes, key.get_secret_value().encode())
    return matched


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
