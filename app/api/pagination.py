"""Opaque, signed cursors for list pages.

A cursor is `base64url(JSON position) "." base64url(tag)`: the tag is an HMAC-SHA256 over
the list's name and the position, keyed by a key derived from each configured encryption
key (the first signs, every one verifies — so a cursor outlives a key rotation while the
old key is still configured, and any replica accepts another's). A client can neither
read meaning into a cursor nor forge one, and a cursor of one list is refused by another:
anything else is `422 cursor_invalid`. The position is checked again once verified (an
aware time within bounds, a storable code of a bounded length), so no cursor can carry a
value the database would refuse.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Query

from app.config import Settings
from app.errors import AppError

LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`"),
]

_PURPOSE = b"directo-gateway list cursor v1"
_TAG_BYTES = 16
# Rows are created "now": a position outside these bounds was never issued.
_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
_MAX_CODE = 64  # the catalogue's code column
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def cursor_invalid() -> AppError:
    return AppError(
        "cursor_invalid",
        "The cursor is not one this API issued for this list (or the key that signed it is "
        "gone); start again from the first page.",
        status=422,
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    """Issues and reads the cursors of every list page; built once per app."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("cursors need at least one secret")
        self._keys = [
            hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest() for secret in secrets
        ]

    @classmethod
    def from_settings(cls, settings: Settings) -> Cursors:
        return cls([key.get_secret_value() for key in settings.encryption.keys])

    def _tag(self, key: bytes, page: str, payload: bytes) -> bytes:
        message = page.encode() + b"\x00" + payload
        return hmac.new(key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def _issue(self, page: str, position: dict[str, str]) -> str:
        payload = json.dumps(position, separators=(",", ":"), ensure_ascii=False).encode()
        return f"{_b64(payload)}.{_b64(self._tag(self._keys[0], page, payload))}"

    def _read(self, page: str, cursor: str) -> dict[str, Any]:
        """The verified position; `cursor_invalid` for anything this list did not issue."""
        encoded, _, tag_text = cursor.partition(".")
        try:
            payload, tag = _unb64(encoded), _unb64(tag_text)
        except (binascii.Error, ValueError) as exc:
            raise cursor_invalid() from exc
        if not any(hmac.compare_digest(tag, self._tag(key, page, payload)) for key in self._keys):
            raise cursor_invalid()
        position = json.loads(payload)  # signed by us: well formed
        if not isinstance(position, dict):
            raise cursor_invalid()
        return position

    def after_row(self, page: str, created_at: dt.datetime, row_id: uuid.UUID) -> str:
        """A cursor for lists ordered by (created_at, id), newest first."""
        return self._issue(page, {"t": created_at.isoformat(), "i": str(row_id)})

    def read_row(self, page: str, cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
        """The (created_at, id) of an `after_row` cursor, in UTC; None without a cursor."""
        if cursor is None:
            return None
        position = self._read(page, cursor)
        time, row = position.get("t"), position.get("i")
        if not isinstance(time, str) or not isinstance(row, str):
            raise cursor_invalid()
        try:
            created_at, row_id = dt.datetime.fromisoformat(time), uuid.UUID(row)
        except ValueError as exc:
            raise cursor_invalid() from exc
        # Compared before converting: moving an extreme time to UTC could overflow.
        if created_at.tzinfo is None or not _EARLIEST <= created_at < _LATEST:
            raise cursor_invalid()
        return created_at.astimezone(dt.UTC), row_id

    def after_code(self, page: str, code: str) -> str:
        """A cursor for lists ordered by code."""
        return self._issue(page, {"k": code})

    def read_code(self, page: str, cursor: str | None) -> str | None:
        """The code of an `after_code` cursor; None without a cursor."""
        if cursor is None:
            return None
        code = self._read(page, cursor).get("k")
        if not isinstance(code, str) or len(code) > _MAX_CODE or _UNSTORABLE.search(code):
            raise cursor_invalid()
        return code
