"""Opaque cursors: url-safe base64 of a small JSON position, so clients cannot depend on
(or forge meaning into) their content; a malformed cursor is a clear 422."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query

from app.errors import AppError

LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`"),
]


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise AppError(
            "cursor_invalid", "The cursor is not one this API issued.", status=422
        ) from exc
    if not isinstance(position, dict):
        raise AppError("cursor_invalid", "The cursor is not one this API issued.", status=422)
    return position
