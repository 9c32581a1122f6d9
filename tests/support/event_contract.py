"""Every event the gateway emits in the test suite must match its schema in the served
OpenAPI document (`webhooks` section).

The `db` fixture calls `EventAudit.start()` before a test and `.check()` after it: the
rows the test left in `events` are read back, wrapped in the delivered envelope, and
validated with jsonschema against the schema of their type, so the test that made the
gateway emit an invalid payload fails (at teardown, naming the event and the problem).

Tests may also emit events of their own with made-up payloads (to exercise the outbox
and delivery); those are not the gateway's and are not checked. They are told apart as
they are written: `insert_events` is wrapped, and events whose emitter — the first
frame outside `emit`, `emit_many` and their `JobContext` twins — is test code are
remembered as made up.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import uuid
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import text

from app.config import Settings
from app.db.models import Event
from app.db.repositories import events as event_repo
from app.main import create_app
from app.resources import Resources
from app.webhooks.outbox import envelope

_TESTS = Path(__file__).resolve().parents[1]
_EMIT_FRAMES = {
    ("emit", Path("app/webhooks/outbox.py")),
    ("emit_many", Path("app/webhooks/outbox.py")),
    ("emit", Path("app/jobs/runner.py")),
    ("emit_many", Path("app/jobs/runner.py")),
}


def served_webhook_schemas(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each event type's JSON Schema (its delivered body), as the app serves it."""
    document = create_app(settings).openapi()
    components = {"components": document["components"]}
    return {
        event_type: {
            **operation["post"]["requestBody"]["content"]["application/json"]["schema"],
            **components,
        }
        for event_type, operation in document.get("webhooks", {}).items()
    }


def _is_emit_frame(filename: str, function: str) -> bool:
    path = Path(filename)
    return any(
        function == name and path.parts[-len(tail.parts) :] == tail.parts
        for name, tail in _EMIT_FRAMES
    )


def _made_by_tests() -> bool:
    frame = sys._getframe(2)  # the wrapper's caller: outbox.emit
    while frame is not None and _is_emit_frame(frame.f_code.co_filename, frame.f_code.co_name):
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(_TESTS)


# Ids of the events tests made up, for the whole session (installed once: a second
# wrapper would see the first as its caller).
_MADE_UP: set[uuid.UUID] = set()


def _remember_made_up_events() -> None:
    original = event_repo.insert_events
    if getattr(original, "remembers_made_up_events", False):
        return

    @functools.wraps(original)
    async def insert_events(*args: Any, **kwargs: Any) -> Any:
        events = await original(*args, **kwargs)
        if _made_by_tests():
            _MADE_UP.update(event.id for event in events)
        return events

    insert_events.remembers_made_up_events = True  # type: ignore[attr-defined]
    event_repo.insert_events = insert_events  # type: ignore[assignment]


class EventAudit:
    """Validates the gateway's events since `start`, skipping those tests made up."""

    def __init__(self, settings: Settings) -> None:
        self.validators = {
            event_type: Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            for event_type, schema in served_webhook_schemas(settings).items()
        }
        self.made_up = _MADE_UP
        self.since: dt.datetime | None = None
        _remember_made_up_events()

    async def start(self, resources: Resources) -> None:
        async with resources.engine.connect() as connection:
            self.since = (await connection.execute(text("SELECT clock_timestamp()"))).scalar_one()

    async def check(self, resources: Resources) -> None:
        """Raise AssertionError listing every gateway event since `start` that does not
        match its schema (or has a type without one)."""
        async with resources.engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT id, company_id, sequence, type, payload, created_at FROM events"
                        " WHERE created_at >= :since ORDER BY company_id, sequence"
                    ),
                    {"since": self.since},
                )
            ).all()
        problems = []
        for row in rows:
            if row.id in self.made_up:
                continue
            validator = self.validators.get(row.type)
            if validator is None:
                problems.append(f"{row.type} #{row.sequence}: no schema in openapi webhooks")
                continue
            body = envelope(
                Event(
                    id=row.id,
                    company_id=row.company_id,
                    sequence=row.sequence,
                    type=row.type,
                    payload=row.payload,
                    created_at=row.created_at,
                )
            )
            for error in validator.iter_errors(body):
                where = "/".join(map(str, error.absolute_path)) or "(body)"
                problems.append(f"{row.type} #{row.sequence} at {where}: {error.message}")
        assert not problems, "events that do not match their webhook schema:\n" + "\n".join(
            problems
        )
