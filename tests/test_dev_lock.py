"""A second `./scripts/dev` while one runs says so and exits, before touching anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from app.cli import _only_dev


def _dev(lock_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "dev", "--lock-file", str(lock_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_dev_says_one_runs_and_exits(tmp_path: Path) -> None:
    lock_file = tmp_path / "run" / "dev.lock"
    with _only_dev(lock_file, port=8123):
        second = _dev(lock_file)
    assert second.returncode == 1, second.stderr
    assert "./scripts/dev is already running (pid " in second.stderr
    assert "API on http://127.0.0.1:8123): use that one" in second.stderr
    assert "migrations applied" not in second.stdout  # it stopped before doing anything


def test_the_lock_is_free_again_once_dev_ends(tmp_path: Path) -> None:
    lock_file = tmp_path / "dev.lock"
    with _only_dev(lock_file, port=8000):
        with pytest.raises(typer.Exit) as refused, _only_dev(lock_file, port=8001):
            pass
        assert refused.value.exit_code == 1
    with _only_dev(lock_file, port=8002):
        assert lock_file.read_text().endswith("API on http://127.0.0.1:8002")
