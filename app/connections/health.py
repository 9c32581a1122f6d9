"""Connection health: `ok`, `degraded` (Directo unavailable or slow lately) and
`needs_attention` (the token is refused). Any job that meets a Directo error reports it
here; the move to `needs_attention` announces `connection.failed` exactly once."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Connection, ConnectionHealth
from app.db.repositories import connections as connection_repo
from app.webhooks.outbox import emit
from app.webhooks.types import EventType

AUTH_CODES = frozenset({"unauthorized", "token_missing", "feed_not_activated"})
UNAVAILABLE_CODES = frozenset({"directo_unavailable", "timeout", "truncated_response"})


def _describe(connection: Connection) -> dict[str, object]:
    return {
        "connection_id": str(connection.id),
        "scope": connection.scope.value,
        "client_id": connection.client_id,
        "token_hint": connection.token_hint,
    }


def _set(connection: Connection, health: ConnectionHealth, code: str | None) -> bool:
    changed = connection.health != health
    if changed:
        connection.health = health
        connection.health_changed_at = dt.datetime.now(dt.UTC)
    connection.last_error_code = code
    return changed


async def report(
    session: AsyncSession,
    connection_id: uuid.UUID,
    *,
    error_code: str | None,
    hint: str | None = None,
) -> ConnectionHealth | None:
    """Record the outcome of a Directo call on the connection's health (row-locked, so a
    burst of failing calls announces the failure once). `error_code=None` means success."""
    connection = await connection_repo.get_connection_by_id(session, connection_id, for_update=True)
    if connection is None:
        return None
    if error_code is None:
        _set(connection, ConnectionHealth.OK, None)
    elif error_code in AUTH_CODES:
        if _set(connection, ConnectionHealth.NEEDS_ATTENTION, error_code):
            await emit(
                session,
                company_id=connection.company_id,
                type_=EventType.CONNECTION_FAILED,
                payload={**_describe(connection), "code": error_code, "hint": hint},
            )
    elif error_code in UNAVAILABLE_CODES and connection.health == ConnectionHealth.OK:
        _set(connection, ConnectionHealth.DEGRADED, error_code)
    await session.flush()
    return connection.health
