"""Start-up checks that answer "why won't it run?" with the fix instead of a stack trace."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from app.config import Settings

POSTGRES_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
    "(or point GATEWAY_DATABASE__URL at a running server)"
)
REDIS_HINT = (
    "start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
    "(or point GATEWAY_REDIS__URL at a running server)"
)


async def _postgres_problem(settings: Settings) -> str | None:
    url = make_url(settings.database.url)
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    try:
        connection = await asyncpg.connect(
            url.set(drivername="postgresql", database="postgres").render_as_string(
                hide_password=False
            ),
            timeout=3,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL is not reachable at {where} ({type(exc).__name__}): {POSTGRES_HINT}"
    await connection.close()
    return None


async def _redis_problem(settings: Settings) -> str | None:
    client = Redis.from_url(settings.redis.url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        parsed = urlsplit(settings.redis.url)  # host, port and db only: never a password
        where = f"{parsed.hostname}:{parsed.port or 6379}{parsed.path or '/0'}"
        return f"Redis is not reachable at {where} ({type(exc).__name__}): {REDIS_HINT}"
    finally:
        await client.aclose()
    return None


async def dependency_problems(settings: Settings) -> list[str]:
    """One line per unreachable dependency, each saying how to start it; empty when fine."""
    results = await asyncio.gather(_postgres_problem(settings), _redis_problem(settings))
    return [problem for problem in results if problem]
