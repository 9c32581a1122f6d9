"""Customer import throughput and memory, against PostgreSQL `COPY` and a naive ORM insert.

Run: ``python bench/import.py`` (``--customers 100000 --sample 10000``). Needs the local
PostgreSQL; uses a scratch database it drops at the end.

What it measures, in one run:

1. **import** — the real `customers_import` job (`run_tracked_job` with the job spec the
   worker uses) in a fresh child process: stream the sandbox's feed over loopback, parse,
   hash, upsert in batches, commit. Records/s, wall time, and the child's peak RSS.
   The sandbox runs in its own process and its feed is fetched once beforehand, so its
   rendered-feed cache serves the import and the figures are the gateway's, not the
   sandbox's generator's.
2. **incremental** — the same job again with nothing changed in Directo: it must write
   nothing (added = updated = 0) and take ≤ 25% of the first run.
3. **COPY** — PostgreSQL `COPY` of the same rows (read back from the import) into a scratch
   table with the same columns and indexes: the floor for writing those rows.
4. **naive ORM** — a per-row `session.add()` + `flush()` of a sample of the rows (``raw`` as
   the document it is, serialised by the ORM) into the same kind of table: what a
   straightforward implementation would do.

Each measured phase (1, 3, 4) starts after a `CHECKPOINT`, so none pays for writing back
the pages an earlier phase dirtied. The machine may be shared: run it more than once (the
load average before and after is printed with the figures). The import uses two cores at
once (PostgreSQL, and the parse beside it) where the naive path uses about one, so other
work on a 2-core machine slows the import more than the naive path.

Targets: import ≥ 40% of COPY throughput, ≥ 20× the naive path, peak RSS ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token"  # noqa: S105 - the sandbox's, not a secret
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")

SANDBOX = """
import sys
from app.directo.sandbox import DatabaseSpec, SandboxState, Sizes, TokenSpec, run_sandbox
customers, port = int(sys.argv[1]), int(sys.argv[2])
state = SandboxState([DatabaseSpec(name="bench", seed=42, sizes=Sizes(customers=customers))],
                     [TokenSpec("bench-token", "bench")])
run_sandbox(port=port, state=state, log_level="warning")
"""

IMPORT_CHILD = """
import asyncio, json, resource, sys, time, uuid
from app.config import Settings
from app.jobs.runner import run_tracked_job
from app.sync.jobs import CUSTOMERS_IMPORT
from app.resources import open_resources
from app.db.models import Job

async def main(database_url, sandbox_url, connection_id):
    from app.runtime import tune_garbage_collector
    settings = Settings.model_validate({
        "database": {"url": database_url},
        "redis": {"queue_name": "bench-import"},
        "directo": {"base_url": sandbox_url, "retry_base_delay": 0.1},
        "log": {"level": "WARNING"},
    })
    async with open_resources(settings) as resources:
        from app.db.repositories import connections as repo
        from app.sync.imports import Feed, start_import
        async with resources.sessionmaker() as session, session.begin():
            connection = await repo.get_connection_by_id(session, uuid.UUID(connection_id))
            job, _ = await start_import(session, connection, Feed.CUSTOMERS)
        tune_garbage_collector()  # as the worker does at start-up
        started = time.perf_counter()
        await run_tracked_job(resources, CUSTOMERS_IMPORT, job.id)
        seconds = time.perf_counter() - started
        async with resources.sessionmaker() as session:
            finished = await session.get(Job, job.id)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "status": finished.status.value,
                      "counts": finished.counts, "max_rss_mb": rss_mb}))

asyncio.run(main(*sys.argv[1:4]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(customers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SANDBOX, str(customers), str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_sandbox/health", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def warm_sandbox(url: str) -> float:
    """Fetch the full feed once, so the sandbox's cache serves the measured import."""
    started = time.perf_counter()
    with httpx.stream(
        "POST",
        f"{url}/xmlcore/cap_xml_direct/xmlcore.asp",
        data={"token": TOKEN, "get": "1", "what": "customer"},
        timeout=600,
    ) as response:
        size = sum(len(chunk) for chunk in response.iter_bytes())
    print(f"sandbox feed: {size / 1e6:.1f} MB, first render {time.perf_counter() - started:.1f} s")
    return size / 1e6


async def prepare_database(url: str) -> str:
    """A migrated scratch database with an enabled integration and a sealed connection."""
    from app.config import Settings
    from app.db.admin import ensure_database, upgrade_to_head
    from app.db.models import Connection, ConnectionScope, Integration
    from app.resources import open_resources
    from app.security.contexts import token_context

    await ensure_database(url)
    await asyncio.to_thread(upgrade_to_head, url)
    settings = Settings.model_validate({"database": {"url": url}})
    async with open_resources(settings) as resources, resources.sessionmaker() as session:
        connection_id = uuid.uuid4()
        sealed = resources.secrets.seal(TOKEN, context=token_context(connection_id))
        session.add(Integration(id=uuid.uuid4(), company_id="bench", enabled=True))
        session.add(
            Connection(
                id=connection_id,
                company_id="bench",
                scope=ConnectionScope.COMPANY,
                token_encrypted=sealed.ciphertext,
                token_key_id=sealed.key_id,
                token_hint=TOKEN[-4:],
            )
        )
        await session.commit()
    return str(connection_id)


async def checkpoint(url: str) -> None:
    """Write back every dirty page now, so that the next measured phase starts clean."""
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def run_import(database_url: str, sandbox_url: str, connection_id: str) -> dict[str, object]:
    output = subprocess.run(
        [sys.executable, "-c", IMPORT_CHILD, database_url, sandbox_url, connection_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


async def copy_and_naive(url: str, sample: int) -> tuple[int, float, int, float]:
    """COPY all imported rows into a scratch table; naive-insert a sample into another."""
    import asyncpg
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app.db.models import DirectoCustomer

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        columns = [
            row["column_name"]
            for row in await connection.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'directo_customers' AND column_name <> 'id' "
                "ORDER BY ordinal_position"
            )
        ]
        records = await connection.fetch(f"SELECT {', '.join(columns)} FROM directo_customers")  # noqa: S608
        await connection.execute("CREATE TABLE copy_target (LIKE directo_customers INCLUDING ALL)")
        await connection.execute("CHECKPOINT")
        started = time.perf_counter()
        await connection.copy_records_to_table("copy_target", records=records, columns=columns)
        copy_seconds = time.perf_counter() - started
    finally:
        await connection.close()

    engine = create_async_engine(url)
    rows = [dict(zip(columns, record, strict=True)) for record in records[:sample]]
    for row in rows:  # asyncpg hands JSONB over as text; the ORM is given the document
        row["raw"] = json.loads(row["raw"])
    try:
        naive_connection = uuid.uuid4()
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO connections (id, company_id, client_id, scope, token_encrypted, "
                "token_key_id, token_hint, health) "
                "VALUES ($1, 'naive', NULL, 'company', '\\x00', 'k', 'x', 'ok')",
                (naive_connection,),
            )
        sessions = async_sessionmaker(engine)
        await checkpoint(url)
        started = time.perf_counter()
        async with sessions() as session:
            for row in rows:
                session.add(DirectoCustomer(**{**row, "connection_id": naive_connection}))
                await session.flush()
            await session.commit()
        naive_seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return len(records), copy_seconds, len(rows), naive_seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=10_000)
    args = parser.parse_args()

    from app.db.admin import drop_database

    load_before = os.getloadavg()
    database_url = f"{POSTGRES}/gw_bench_{uuid.uuid4().hex[:8]}"
    sandbox, sandbox_url = start_sandbox(args.customers)
    try:
        warm_sandbox(sandbox_url)
        connection_id = asyncio.run(prepare_database(database_url))
        asyncio.run(checkpoint(database_url))
        first = run_import(database_url, sandbox_url, connection_id)
        second = run_import(database_url, sandbox_url, connection_id)
        copied, copy_seconds, sampled, naive_seconds = asyncio.run(
            copy_and_naive(database_url, args.sample)
        )
    finally:
        sandbox.terminate()
        sandbox.wait()
        asyncio.run(drop_database(database_url))

    report(first, second, copied, copy_seconds, sampled, naive_seconds)
    print(
        "load average (1, 5, 15 min): before "
        + ", ".join(f"{value:.2f}" for value in load_before)
        + "; after "
        + ", ".join(f"{value:.2f}" for value in os.getloadavg())
    )


def report(
    first: dict[str, Any],
    second: dict[str, Any],
    copied: int,
    copy_seconds: float,
    sampled: int,
    naive_seconds: float,
) -> None:
    records = int(first["counts"]["read"])
    import_rate = records / float(first["seconds"])
    copy_rate = copied / copy_seconds
    naive_rate = sampled / naive_seconds
    share = float(second["seconds"]) / float(first["seconds"])
    rss = float(first["max_rss_mb"])
    print(
        f"import       {records:>7} records in {first['seconds']:.2f} s = "
        f"{import_rate:>8.0f} records/s, peak RSS {rss:.0f} MB, status {first['status']}, "
        f"counts {first['counts']}"
    )
    print(
        f"incremental  {second['counts']['read']:>7} read in {second['seconds']:.2f} s "
        f"= {share:.0%} of the first run (target ≤ 25%), counts {second['counts']} "
        "(target: nothing added or updated)"
    )
    print(f"COPY         {copied:>7} rows    in {copy_seconds:.2f} s = {copy_rate:>8.0f} rows/s")
    print(f"naive ORM    {sampled:>7} rows    in {naive_seconds:.2f} s = {naive_rate:>8.0f} rows/s")
    print(
        f"ratios: import/COPY = {import_rate / copy_rate:.0%} (target ≥ 40%), "
        f"import/naive = {import_rate / naive_rate:.1f}× (target ≥ 20×), "
        f"peak RSS {rss:.0f} MB (target ≤ 200 MB)"
    )


if __name__ == "__main__":
    main()
