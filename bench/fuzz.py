"""The API fuzz test in its long mode: many more generated requests per operation.

Run: ``python bench/fuzz.py`` (``--examples 500``; extra arguments go to pytest, e.g.
``-k statistics``). Needs the local PostgreSQL and Redis, as the test suite does.

It runs ``tests/api/test_fuzz.py`` (schemathesis over ``openapi.yaml`` against the gateway
under uvicorn on loopback, with the Directo sandbox) with ``FUZZ_EXAMPLES`` raised from the
suite's CI-bounded default; the checks are the same: no 5xx and every response matches its
documented schema. Prints the wall time; the exit code is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per operation")
    args, pytest_args = parser.parse_known_args()
    env = os.environ | {"FUZZ_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/api/test_fuzz.py", "-q", *pytest_args],
        cwd=ROOT,
        env=env,
        check=False,
    )
    print(f"fuzz: {args.examples} examples per operation in {time.monotonic() - started:.0f} s")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
