"""Counting the SQL statements a piece of work sends: what the at-scale tests bound."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from app.resources import Resources


@contextmanager
def counted_statements(db: Resources) -> Iterator[list[str]]:
    """Every SQL statement the engine sends meanwhile (an executemany counts once)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
