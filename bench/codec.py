"""Parse throughput and peak memory of the streaming feed decoder.

Run: ``python bench/codec.py`` (``--sizes 100000 400000``, ``--http`` to stream from a
sandbox process over loopback instead of from files, ``--repeat 3`` to run each size
three times and keep the fastest run: on a shared 2-core machine wall time swings ±25%).

How it measures:

* The feeds are the sandbox's own customer feed (``app.directo.sandbox``), rendered once
  by its generator into files under ``--workdir`` (reused when present) — or, with
  ``--http``, served live by a sandbox in a separate process on 127.0.0.1.
* Each parse runs in a fresh child process, so its peak RSS (``ru_maxrss`` of that
  child) is honest: the child imports the app, then streams the feed through
  ``codec.decode_stream`` (file mode: 64 KiB reads fed as an async byte stream, exactly
  what the HTTP client does) or through ``DirectoClient.iter_customers`` (HTTP mode),
  with batches of 1000 records that are counted and dropped.
* The child applies the worker's garbage-collector settings
  (`app.runtime.tune_garbage_collector`) first, so the parse runs as it does in the
  worker.
* Throughput is feed bytes (or records) divided by the wall time of the parse; in HTTP
  mode it is bounded by how fast the sandbox generates the feed. The child's CPU time is
  printed too: well below the wall time means the parse waited (HTTP mode, or a machine
  busy elsewhere); equal means CPU-bound (a busy sibling core can still slow it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token"  # noqa: S105 - the sandbox's, not a secret


def _database_spec(customers: int) -> dict[str, object]:
    return {"name": f"bench{customers}", "country": "EE", "seed": 42, "today": "2025-06-30",
            "sizes": {"customers": customers}}  # fmt: skip


def generate(path: Path, customers: int) -> None:
    """Render the sandbox's customer feed of ``customers`` records into ``path``."""
    from app.directo.sandbox import DatabaseSpec, SandboxState
    from app.directo.sandbox.filters import Filters
    from app.directo.sandbox.xml import feed_chunks

    state = SandboxState([DatabaseSpec.from_json(_database_spec(customers))], [])
    database = state.database(f"bench{customers}")
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for chunk in feed_chunks("customer", database.records("customer", Filters())):
            out.write(chunk)
    tmp.replace(path)


async def _file_chunks(path: Path, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    # Blocking reads on purpose: a local file stands in for the socket, and the parse
    # (the thing measured) runs on the worker thread either way.
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


async def _parse_file(path: Path, size: int) -> tuple[int, int]:
    from app.directo import codec, feeds

    records = 0
    async for batch in codec.decode_stream(feeds.CUSTOMERS, _file_chunks(path), batch_size=1000):
        records += len(batch)
    return records, size


async def _parse_http(base_url: str) -> tuple[int, int]:
    import httpx

    from app.config import DirectoSettings
    from app.directo.client import DirectoClient
    from app.directo.credentials import DirectoCredentials

    received = 0

    async def count(response: httpx.Response) -> None:
        nonlocal received
        received += int(response.headers.get("content-length") or 0)

    records = 0
    async with httpx.AsyncClient() as http:
        client = DirectoClient(http, DirectoSettings(base_url=base_url, max_attempts=1))
        async for batch in client.iter_customers(DirectoCredentials(TOKEN), batch_size=1000):
            records += len(batch)
    return records, received


def child(args: argparse.Namespace) -> None:
    """Parse one feed and print a JSON line with records, bytes, seconds and peak RSS."""
    import app.directo.codec  # noqa: F401 - import cost is not parse time
    from app.runtime import tune_garbage_collector

    # Parse under the garbage-collector settings the worker runs with.
    tune_garbage_collector()
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.child_url:
        records, size = asyncio.run(_parse_http(args.child_url))
        size = size or args.child_bytes
    else:
        path = Path(args.child_file)
        records, size = asyncio.run(_parse_file(path, path.stat().st_size))
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"records": records, "bytes": size, "seconds": seconds,
                      "cpu_seconds": cpu_seconds, "peak_rss_mb": peak_kib / 1024}))  # fmt: skip


def _run_child(*extra: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, *extra], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def _start_sandbox(sizes: list[int]) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from app.directo.sandbox.server import free_port

    port = free_port()
    script = (
        "from app.directo.sandbox import run_sandbox, SandboxState;"
        f"run_sandbox(port={port}, state=SandboxState([], []), log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/_sandbox/health", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    for customers in sizes:
        httpx.post(f"{base}/_sandbox/databases", json=_database_spec(customers)).raise_for_status()
    return process, base


def main(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[int, dict[str, float]] = {}
    sandbox = None
    try:
        for customers in args.sizes:
            path = workdir / f"customers-{customers}.xml"
            if not path.exists():
                started = time.perf_counter()
                generate(path, customers)
                print(f"generated {path} in {time.perf_counter() - started:.1f}s")
            if args.http:
                if sandbox is None:
                    sandbox, base = _start_sandbox(args.sizes)
                import httpx

                token = {"token": TOKEN, "database": f"bench{customers}"}
                httpx.post(f"{base}/_sandbox/tokens", json=token).raise_for_status()
                child_args = ["--child-url", base, "--child-bytes", str(path.stat().st_size)]
            else:
                child_args = ["--child-file", str(path)]
            for _ in range(args.repeat):
                r = _run_child(*child_args)
                if customers not in runs or r["seconds"] < runs[customers]["seconds"]:
                    runs[customers] = r
                print(
                    f"{'http' if args.http else 'file'} {customers:>7} customers: "
                    f"{r['bytes'] / 1e6:7.1f} MB in {r['seconds']:6.2f}s "
                    f"(cpu {r['cpu_seconds']:5.2f}s) = "
                    f"{r['bytes'] / 1e6 / r['seconds']:5.1f} MB/s, "
                    f"{r['records'] / r['seconds']:8.0f} records/s, "
                    f"peak RSS {r['peak_rss_mb']:.1f} MB"
                )
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    if len(runs) >= 2:
        small, large = runs[min(runs)], runs[max(runs)]
        ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
        print(f"RSS ratio {max(runs)}/{min(runs)}: {ratio:.2f} (target ≤ 1.2; largest ≤ 200 MB)")
        if args.repeat > 1:
            for customers, r in sorted(runs.items()):
                print(f"fastest {customers:>7}: {r['bytes'] / 1e6 / r['seconds']:5.1f} MB/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--workdir", default="/tmp/directo-bench")
    parser.add_argument("--http", action="store_true", help="stream from a sandbox process")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (fastest kept)")
    parser.add_argument("--child-file", help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--child-bytes", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child_file or arguments.child_url:
        child(arguments)
    else:
        main(arguments)
