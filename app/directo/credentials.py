"""The credential a Directo call is made with, and the token clean-up users need."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

_DATABASE_CODE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def normalize_token(raw: str) -> tuple[str, bool]:
    """Strip surrounding whitespace (and invisible zero-width characters) from a pasted token.

    Returns the clean token and whether anything was removed, so the caller can tell the
    user it fixed the most common copy-paste mistake. Inner characters are never touched.
    """
    clean = raw
    while True:
        stripped = clean.strip().strip(_INVISIBLE)
        if stripped == clean:
            break
        clean = stripped
    return clean, clean != raw


@dataclass(frozen=True, slots=True)
class DirectoCredentials:
    """An XML Direct token and, for legacy per-database endpoints, the database code.

    The repr and str never show the token; `token_hint` (last 4 characters) is what may be
    shown or logged. Raises ``ValueError`` for a database code that is not a plain path
    segment (it becomes part of the URL). ``connection_id`` is the gateway's id of the
    stored credential, never sent: it only labels each call's `CallRecord`.
    """

    token: str = field(repr=False)
    database_code: str | None = None
    connection_id: uuid.UUID | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.database_code is not None and not _DATABASE_CODE.fullmatch(self.database_code):
            raise ValueError("database code may hold only letters, digits, '_' and '-'")

    @property
    def token_hint(self) -> str:
        """``…abcd``: the last four characters, for display."""
        return "…" + self.token[-4:] if len(self.token) > 8 else "…"

    def __repr__(self) -> str:
        return f"DirectoCredentials(token='***', database_code={self.database_code!r})"

    __str__ = __repr__
