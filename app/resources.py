"""The one factory of long-lived resources, shared by the API's lifespan and the worker's
startup: database engine and sessions, the outbound HTTP client, the job queue, and the
secret box. Nothing here is built at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.budget.directo import open_budget
from app.calllog.recorder import CallLog, observer, periodic_flush
from app.config import Settings
from app.db.session import create_engine, create_reader_engine, create_sessionmaker
from app.directo.client import DirectoClient
from app.directo.pools import PoolPerConnection
from app.metrics import observe_directo_call
from app.queue.arq_adapter import JobQueue, open_queue
from app.security.crypto import SecretBox


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    reader: AsyncEngine  # single-statement reads, autocommit (`create_reader_engine`)
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    queue: JobQueue
    secrets: SecretBox
    directo: DirectoClient
    call_log: CallLog  # this process's buffer of Directo calls (`app/calllog`)


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """The process's HTTP client: a small pool per Directo connection (`pools`), sized by
    its budget, and a shared pool for everything else (webhook deliveries)."""
    timeout = httpx.Timeout(
        connect=settings.directo.connect_timeout,
        read=settings.directo.read_timeout,
        write=settings.directo.read_timeout,
        pool=settings.directo.connect_timeout,
    )
    shared = settings.directo.max_connections_per_process
    per_connection = settings.directo.max_concurrency_per_connection
    # One TLS context for every pool: each would otherwise load the CA bundle (a megabyte).
    tls = httpx.create_ssl_context()
    transport = PoolPerConnection(
        httpx.AsyncHTTPTransport(
            verify=tls, limits=httpx.Limits(max_connections=shared, max_keepalive_connections=20)
        ),
        # Twice the budget: while Redis is down, leases granted before and the local limit
        # after can overlap for a moment; those calls must not queue in httpx and time out.
        lambda: httpx.AsyncHTTPTransport(
            verify=tls,
            limits=httpx.Limits(
                max_connections=2 * per_connection, max_keepalive_connections=per_connection
            ),
        ),
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": "directo-gateway"},
        transport=transport,
    )


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open every shared resource and close them all on exit, whatever happened."""
    engine = create_engine(settings.database)
    reader = create_reader_engine(settings.database)
    http = build_http_client(settings)
    queue = open_queue(settings.redis)
    budget = open_budget(settings.redis, settings.directo)
    sessionmaker = create_sessionmaker(engine)
    call_log = CallLog()
    flusher = asyncio.create_task(
        periodic_flush(call_log, sessionmaker, every=settings.call_log.flush_seconds)
    )
    try:
        yield Resources(
            settings=settings,
            engine=engine,
            reader=reader,
            sessionmaker=sessionmaker,
            http=http,
            queue=queue,
            secrets=SecretBox(settings.encryption.keys),
            directo=DirectoClient(
                http,
                settings.directo,
                observer=observer(observe_directo_call, call_log.record),
                budget=budget,
            ),
            call_log=call_log,
        )
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await call_log.flush(sessionmaker)
        await budget.close()
        await queue.close()
        await http.aclose()
        await reader.dispose()
        await engine.dispose()
