"""The CLI: a missing dependency is named with the fix; migrate creates and migrates a database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from app.config import Settings
from app.db.admin import drop_database
from app.preflight import dependency_problems
from tests.conftest import POSTGRES_URL, make_settings


async def test_preflight_names_each_unreachable_dependency_and_how_to_start_it() -> None:
    settings = make_settings(
        database={"url": "postgresql+asyncpg://postgres@127.0.0.1:1/x"},
        redis={"url": "redis://127.0.0.1:1/0"},
    )
    problems = await dependency_problems(settings)
    assert len(problems) == 2
    assert problems[0].startswith("PostgreSQL is not reachable at 127.0.0.1:1")
    assert "pg_ctlcluster" in problems[0]
    assert problems[1].startswith("Redis is not reachable at 127.0.0.1:1/0")
    assert "redis-server" in problems[1]


async def test_preflight_is_quiet_when_everything_answers(settings: Settings) -> None:
    assert await dependency_problems(settings) == []


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@pytest.mark.slow
async def test_migrate_creates_the_database_then_is_idempotent() -> None:
    url = f"{POSTGRES_URL}/gw_cli_{uuid.uuid4().hex[:10]}"
    env = {"GATEWAY_DATABASE__URL": url}
    try:
        first = _cli("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == ["created the database", "migrations applied"]
        second = _cli("migrate", env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.splitlines() == ["migrations applied"]
    finally:
        await drop_database(url)


@pytest.mark.slow
def test_migrate_with_redis_down_exits_2_with_the_fix() -> None:
    result = _cli("migrate", env={"GATEWAY_REDIS__URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 2
    assert "Redis is not reachable at 127.0.0.1:1/0" in result.stderr
    assert "Traceback" not in result.stderr
