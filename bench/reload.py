"""Reload of 12 months for 200 linked clients, against a Directo with 50 ms per call.

Run: ``python bench/reload.py`` (``--clients 200 --months 12 --latency-ms 50``). Needs the
local PostgreSQL; uses a scratch database it drops at the end.

What it measures, in one run:

* the real `statistics_reload` job (`run_tracked_job` with the spec the worker uses) for a
  company whose clients are all linked to customers of its Directo database, with every
  field of the catalogue mapped — wall time, and the Directo calls it made (counted by the
  sandbox, which runs in its own process and waits ``--latency-ms`` before each answer);
* the **latency floor**: calls × latency ÷ the per-connection concurrency (the setting
  `directo.max_concurrency_per_connection`) — no implementation with that many calls and
  that concurrency can be faster; the ratio wall ÷ floor (target ≤ 1.5);
* the calls a per-month approach would make (clients × months × feeds per client) and the
  ratio (target ≤ 1/10).

The sandbox's feeds are rendered once by an untimed warm-up reload (its seeded-data
generator is not Directo's cost; Directo's cost is modelled by the latency), then the
measured reload runs against the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token"  # noqa: S105 - the sandbox's, not a secret
COMPANY = "bench-firm"
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")

SANDBOX = """
import sys
import uvicorn
from app.directo.sandbox import DatabaseSpec, Faults, SandboxState, Sizes, TokenSpec
from app.directo.sandbox.app import create_sandbox_app
from app.directo.sandbox.cache import FeedCache
customers, latency_ms, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sizes = Sizes(customers=customers, invoices_per_month=customers, months=14)
state = SandboxState([DatabaseSpec(name="bench", seed=7, sizes=sizes)],
                     [TokenSpec("bench-token", "bench")])
state.database("bench").set_faults(Faults(latency_ms=latency_ms))
app = create_sandbox_app(state)
app.state.feed_cache = FeedCache(max_entries=4 * customers + 16)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(customers: int, latency_ms: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SANDBOX, str(customers), str(latency_ms), str(port)], cwd=ROOT
    )
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


async def prepare_database(url: str, clients: int) -> None:
    """A migrated scratch database: integration, sealed connection, links, full mapping."""
    from app.config import Settings
    from app.db.admin import ensure_database, upgrade_to_head
    from app.db.models import (
        Client,
        ClientLink,
        Connection,
        ConnectionScope,
        Integration,
        SummarySettings,
    )
    from app.directo.sandbox.data import Dataset
    from app.resources import open_resources
    from app.security.contexts import token_context
    from app.statistics.fields import FIELD_KEYS

    await ensure_database(url)
    await asyncio.to_thread(upgrade_to_head, url)
    settings = Settings.model_validate({"database": {"url": url}})
    async with open_resources(settings) as resources, resources.sessionmaker() as session:
        connection_id = uuid.uuid4()
        sealed = resources.secrets.seal(TOKEN, context=token_context(connection_id))
        session.add(Integration(id=uuid.uuid4(), company_id=COMPANY, enabled=True))
        session.add(
            Connection(
                id=connection_id,
                company_id=COMPANY,
                scope=ConnectionScope.COMPANY,
                token_encrypted=sealed.ciphertext,
                token_key_id=sealed.key_id,
                token_hint=TOKEN[-4:],
            )
        )
        await session.flush()  # the links refer to the connection
        session.add(
            SummarySettings(
                company_id=COMPANY,
                task_title="Monthly summary",
                import_day_rule="last_work_day",
                field_mapping={key: f"uku-{key}" for key in sorted(FIELD_KEYS)},
            )
        )
        for index in range(clients):
            client_id = f"client-{index:04d}"
            session.add(Client(id=uuid.uuid4(), company_id=COMPANY, client_id=client_id))
            session.add(
                ClientLink(
                    id=uuid.uuid4(),
                    company_id=COMPANY,
                    client_id=client_id,
                    customer_code=Dataset.customer_code(index),
                    connection_id=connection_id,
                )
            )
        await session.commit()


async def reload_once(url: str, sandbox_url: str, months: int) -> tuple[float, str, int]:
    """Run one reload of every client to its end; (seconds, status, clients succeeded)."""
    from app.config import Settings
    from app.jobs.runner import run_tracked_job
    from app.resources import open_resources
    from app.statistics.jobs import STATISTICS_RELOAD
    from app.statistics.reload_requests import request_reload

    settings = Settings.model_validate(
        {
            "database": {"url": url},
            "redis": {"queue_name": "bench-reload"},
            "directo": {"base_url": sandbox_url, "retry_base_delay": 0.1},
            "log": {"level": "WARNING"},
        }
    )
    async with open_resources(settings) as resources:
        async with resources.sessionmaker() as session, session.begin():
            requested = await request_reload(
                session, company_id=COMPANY, client_ids=None, months=months
            )
        started = time.perf_counter()
        await run_tracked_job(resources, STATISTICS_RELOAD, requested.job.id)
        seconds = time.perf_counter() - started
        async with resources.sessionmaker() as session:
            from app.db.repositories import jobs as job_repo
            from app.db.repositories import statistics as statistics_repo

            job = await job_repo.get_job(session, requested.job.id)
            reload = await statistics_repo.get_reload(session, requested.reload.id)
        assert job is not None
        assert reload is not None
        return seconds, job.status.value, reload.clients_done


def directo_calls(sandbox_url: str) -> int:
    entries = httpx.get(f"{sandbox_url}/_sandbox/requests", timeout=30).json()
    return sum(1 for entry in entries if entry["op"] == "get")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()

    from app.config import DirectoSettings
    from app.db.admin import drop_database

    concurrency = DirectoSettings().max_concurrency_per_connection
    database_url = f"{POSTGRES}/gw_bench_reload_{uuid.uuid4().hex[:8]}"
    sandbox, sandbox_url = start_sandbox(args.clients, args.latency_ms)
    try:
        asyncio.run(prepare_database(database_url, args.clients))
        warm_seconds, _, _ = asyncio.run(reload_once(database_url, sandbox_url, args.months))
        httpx.delete(f"{sandbox_url}/_sandbox/requests", timeout=30)
        seconds, status, succeeded = asyncio.run(
            reload_once(database_url, sandbox_url, args.months)
        )
        calls = directo_calls(sandbox_url)
    finally:
        sandbox.terminate()
        sandbox.wait()
        asyncio.run(drop_database(database_url))

    floor = calls * args.latency_ms / 1000 / concurrency
    feeds_per_client = calls / max(succeeded, 1)
    per_month_calls = round(args.clients * args.months * feeds_per_client)
    print(
        f"reload       {args.clients} linked clients × {args.months} months: {status}, "
        f"{succeeded} clients succeeded, wall {seconds:.2f} s "
        f"(untimed warm-up run: {warm_seconds:.2f} s)"
    )
    print(
        f"Directo      {calls} calls ({feeds_per_client:.1f} per client), "
        f"{args.latency_ms} ms each, concurrency {concurrency} per connection"
    )
    print(f"floor        {calls} × {args.latency_ms} ms ÷ {concurrency} = {floor:.2f} s")
    print(
        f"ratios: wall/floor = {seconds / floor:.2f}× (target ≤ 1.5×), "
        f"calls/per-month calls = {calls}/{per_month_calls} = {calls / per_month_calls:.3f} "
        "(target ≤ 0.1)"
    )


if __name__ == "__main__":
    main()
