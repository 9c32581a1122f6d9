"""What each stored secret is bound to: the associated data it is sealed under.

A ciphertext opens only under the context it was sealed with, so a token copied onto
another connection's row (or an endpoint secret onto another endpoint) fails to decrypt
instead of being used there. Sealing, opening and key rotation all name the context here.
"""

from __future__ import annotations

import uuid


def token_context(connection_id: uuid.UUID) -> str:
    """A connection's Directo token."""
    return f"connection:{connection_id}"


def endpoint_context(endpoint_id: uuid.UUID) -> str:
    """A webhook endpoint's signing secret."""
    return f"webhook-endpoint:{endpoint_id}"


def callback_context(company_id: str) -> str:
    """A company's callback signing secret."""
    return f"callback-secret:{company_id}"
