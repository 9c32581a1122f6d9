"""Database administration: create the database if missing, and run alembic migrations."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every pending migration (synchronous: call it outside an event loop)."""
    command.upgrade(alembic_config(database_url), "head")


def _plain_dsn(database_url: str, *, database: str | None = None) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def ensure_database(database_url: str) -> bool:
    """Create the URL's database if it does not exist; True if it was created."""
    name = make_url(database_url).database
    if not name:
        raise ValueError("the database URL names no database")
    connection = await asyncpg.connect(_plain_dsn(database_url, database="postgres"))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        await connection.execute(f"CREATE DATABASE {quoted}")
        return True
    finally:
        await connection.close()


async def drop_database(database_url: str) -> None:
    """Drop the URL's database (tests use this to clean up after themselves)."""
    name = make_url(database_url).database
    assert name
    connection = await asyncpg.connect(_plain_dsn(database_url, database="postgres"))
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await connection.close()
