"""Console sessions: operations keys, and the signed cookie that carries a sign-in.

The cookie is stateless: `base64url(JSON) "." base64url(HMAC-SHA256 tag)`, keyed — as the
API's list cursors are — by keys derived from each configured encryption key (the first
signs, every one verifies, so a sign-in outlives an encryption-key rotation while the old
key is still configured, and any replica accepts another's). The JSON holds who signed in
(the operations key's fingerprint, or nobody yet), the session's CSRF token, and when it
expires. A session whose key has since been removed from `GATEWAY_OPS__KEYS` is signed out:
removing a key revokes every sign-in made with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from app.config import Settings

COOKIE_NAME = "directo_ops_session"
COOKIE_PATH = "/ops"
# A session nobody signed in to yet only carries the sign-in form's CSRF token.
ANONYMOUS_SECONDS = 60 * 60
_PURPOSE = b"directo-gateway ops console session v1"
_MAX_COOKIE = 1024


def key_fingerprint(key: str) -> str:
    """How logs and sessions name an operations key: `ops:` and 8 hex digits of its SHA-256.

    Stable across restarts and replicas, and it names the key being rotated out; the key
    itself is never written anywhere."""
    return "ops:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def match_key(presented: str, keys: Sequence[SecretStr]) -> str | None:
    """The fingerprint of the configured key equal to `presented`, or None.

    Every key is compared (no early exit), in constant time for equal lengths, so timing
    tells neither which key matched nor how many there are."""
    presented_bytes = presented.encode()
    matched: str | None = None
    for key in keys:
        value = key.get_secret_value()
        if hmac.compare_digest(presented_bytes, value.encode()):
            matched = key_fingerprint(value)
    return matched


@dataclass(frozen=True, slots=True)
class OpsSession:
    operator: str | None  # the operations key's fingerprint; None before sign-in
    csrf: str
    expires_at: int  # seconds since the epoch

    @property
    def signed_in(self) -> bool:
        return self.operator is not None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and reads console session cookies; built once per app."""

    def __init__(self, settings: Settings) -> None:
        self._keys = [
            hmac.new(key.get_secret_value().encode(), _PURPOSE, hashlib.sha256).digest()
            for key in settings.encryption.keys
        ]
        self._operators = {key_fingerprint(key.get_secret_value()) for key in settings.ops.keys}
        self.lifetime = settings.ops.session_minutes * 60

    def new(self, operator: str | None, *, now: float | None = None) -> OpsSession:
        """A fresh session (a new CSRF token): anonymous for the sign-in form, or signed in."""
        lifetime = self.lifetime if operator else ANONYMOUS_SECONDS
        moment = int(now if now is not None else time.time())
        return OpsSession(
            operator=operator, csrf=secrets.token_urlsafe(24), expires_at=moment + lifetime
        )

    def dump(self, session: OpsSession) -> str:
        payload = json.dumps(
            {"o": session.operator, "c": session.csrf, "x": session.expires_at},
            separators=(",", ":"),
        ).encode()
        tag = hmac.new(self._keys[0], payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(tag)}"

    def load(self, cookie: str | None, *, now: float | None = None) -> OpsSession | None:
        """The session the cookie carries, or None for a missing, forged, expired or
        malformed one, or one signed in with a key no longer configured."""
        if not cookie or len(cookie) > _MAX_COOKIE:
            return None
        encoded, _, tag_text = cookie.partition(".")
        try:
            payload, tag = _unb64(encoded), _unb64(tag_text)
        except (binascii.Error, ValueError):
            return None
        expected = [hmac.new(key, payload, hashlib.sha256).digest() for key in self._keys]
        if not any(hmac.compare_digest(tag, candidate) for candidate in expected):
            return None
        data = json.loads(payload)  # signed by us: well formed
        operator, csrf, expires_at = data.get("o"), data.get("c"), data.get("x")
        if not isinstance(csrf, str) or not isinstance(expires_at, int):
            return None
        if expires_at <= (now if now is not None else time.time()):
            return None
        if operator is not None and operator not in self._operators:
            return None
        return OpsSession(operator=operator, csrf=csrf, expires_at=expires_at)


def csrf_matches(session: OpsSession, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), session.csrf.encode())
