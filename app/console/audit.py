"""The console's audit trail: every action, and every sign-in attempt, as one log line that
names who did it by key fingerprint (`ops:1a2b3c4d`) — never by the key."""

from __future__ import annotations

import structlog
from starlette.requests import Request

log = structlog.get_logger("app.console.audit")


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def action(request: Request, operator: str, name: str, **details: object) -> None:
    """Record that `operator` did `name` (e.g. `reload.start`) with these details."""
    log.info("ops_action", action=name, operator=operator, client=_client(request), **details)


def refused_sign_in(request: Request, reason: str) -> None:
    log.warning("ops_sign_in_refused", reason=reason, client=_client(request))
