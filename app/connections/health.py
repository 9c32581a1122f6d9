"""Connection health: `ok`, `degraded` and `needs_attention`.

`needs_attention`: the token is refused. `degraded`: the token works, but Directo was
unavailable lately, or a feed that a configured feature needs is not activated for the key
(`missing_feeds`, until a connection test finds it activated), or Directo cannot read the
gateway's filter dates; `health_hint` says what to do. Any job that meets a Directo error
reports it here; the move to `needs_attention` announces `connection.failed` exactly once.
A retired connection (replaced by one of another database) no longer reports anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.capabilities import Work, explain_refusal, missing_feeds
from app.db.models import Connection, ConnectionHealth
from app.db.repositories import connections as connection_repo
from app.directo.errors import DirectoError
from app.webhooks.outbox import emit
from app.webhooks.types import EventType

AUTH_CODES = frozenset({"unauthorized", "token_missing"})
UNAVAILABLE_CODES = frozenset({"directo_unavailable", "timeout", "truncated_response"})
# The token works; some feature cannot: Directo must activate a feed, or ops must change
# the date format the gateway sends.
FEATURE_CODES = frozenset({"feed_not_activated", "date_format_mismatch"})


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
    missing_feeds: Iterable[str] = (),
) -> ConnectionHealth | None:
    """Record the outcome of a Directo call on the connection's health (row-locked, so a
    burst of failing calls announces the failure once). `error_code=None` means success;
    `missing_feeds` are the capabilities a `feed_not_activated` failure named."""
    connection = await connection_repo.get_connection_by_id(session, connection_id, for_update=True)
    if connection is None or connection.retired_at is not None:
        return None
    if error_code is None:
        if connection.missing_feeds:  # the call worked; the features missing a feed do not
            _set(connection, ConnectionHealth.DEGRADED, "feed_not_activated")
        else:
            _set(connection, ConnectionHealth.OK, None)
            connection.health_hint = None
    elif error_code in FEATURE_CODES and "customers_out" not in missing_feeds:
        missing = set(connection.missing_feeds) | set(missing_feeds)
        connection.missing_feeds = sorted(missing)
        _set(connection, ConnectionHealth.DEGRADED, error_code)
        connection.health_hint = hint
    elif error_code in AUTH_CODES or error_code == "feed_not_activated":
        # Without customers out the connection is unusable, whatever else the key may do.
        if _set(connection, ConnectionHealth.NEEDS_ATTENTION, error_code):
            await emit(
                session,
                company_id=connection.company_id,
                type_=EventType.CONNECTION_FAILED,
                payload={**_describe(connection), "code": error_code, "hint": hint},
            )
        connection.health_hint = hint
    elif error_code in UNAVAILABLE_CODES and connection.health == ConnectionHealth.OK:
        _set(connection, ConnectionHealth.DEGRADED, error_code)
        connection.health_hint = hint
    await session.flush()
    return connection.health


async def fail(
    sessionmaker: async_sessionmaker[AsyncSession],
    connection_id: uuid.UUID,
    error: DirectoError,
    *,
    work: Work | None = None,
) -> NoReturn:
    """Record a Directo failure on the connection's health in a transaction of its own (the
    failing work's is rolled back) and raise it — or, with `work`, what it turns out to be
    (`capabilities.explain_refusal`: a feed the key lacks is `feed_not_activated`, raised
    from `error`, and degrades the connection instead of failing it)."""
    failure = error if work is None else await explain_refusal(error, work)
    # A transaction of its own, though services never commit: the error raised below rolls
    # back the job's unit of work, and the health change (with its `connection.failed`
    # outbox row) must outlive that rollback. Its row lock (FOR NO KEY UPDATE) does not
    # wait for the KEY SHARE locks the job's inserts hold on the connection; a caller that
    # had updated the connection row itself would block it, so callers never do.
    async with sessionmaker() as session, session.begin():
        await report(
            session,
            connection_id,
            error_code=failure.code,
            hint=failure.hint,
            missing_feeds=missing_feeds(failure),
        )
    if failure is error:
        raise error
    raise failure from error
