"""Engine and session factory. Sessions never commit on their own: the edge that owns the
unit of work (a request's `UnitOfWork`, or the job runner) does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import DatabaseSettings


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """The engine for units of work (sessions, transactions): each checkout pings, so a
    connection that died unseen (a dropped idle connection, a failover) is replaced
    before a job or a write uses it."""
    return _engine(
        settings,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
    )


def create_reader_engine(settings: DatabaseSettings) -> AsyncEngine:
    """The engine for single-statement reads (the API's list routes): autocommit, so a read
    is one round trip with no BEGIN/ROLLBACK, and a pool of its own with no overflow.

    Overflow connections are closed as they come back whenever the pool is full, so under
    a steady load above `pool_size` every few requests would open a new connection (TLS
    negotiation, a backend process, the statement prepared again). A read holds its
    connection for one statement only, so waiting for one is short. Its own pool means a
    read never waits behind a unit of work, and connects only when first used.

    No ping per checkout (a round trip for a one-statement read): a connection the server
    has closed is refused for free (`_refuse_closed_connection`), and connections are
    renewed every `_READER_RECYCLE_SECONDS` so none idles long enough to be dropped unseen
    by the network. A read on a connection that breaks anyway fails with a 503, and the
    pool then replaces every connection older than the failure.
    """
    engine = _engine(
        settings,
        pool_size=settings.read_pool_size,
        max_overflow=0,
        pool_recycle=_READER_RECYCLE_SECONDS,
        isolation_level="AUTOCOMMIT",
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


_READER_RECYCLE_SECONDS = 300


def _engine(settings: DatabaseSettings, **options: Any) -> AsyncEngine:
    return create_async_engine(
        settings.url,
        connect_args={
            "server_settings": {
                "application_name": "directo-gateway",
                "statement_timeout": str(settings.statement_timeout_ms),
            }
        },
        **options,
    )


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no pooled connection the server has closed (a restart, a terminated backend).

    asyncpg notices the server closing its socket as soon as it happens, so the check costs
    nothing. The pool replaces a refused connection with a fresh one.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
