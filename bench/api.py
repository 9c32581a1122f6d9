"""API read throughput and latency: the gateway against a bare FastAPI + asyncpg app.

Run: ``python bench/api.py`` (``--customers 5000 --concurrency 32 --seconds 10 --rounds 3``).
Needs the local PostgreSQL (and Redis, which the gateway's start-up expects); uses a
scratch database it drops at the end.

What it measures, in one run:

* **gateway** — ``GET /v1/companies/{id}/directo/customers`` (the import preview: the first
  page of 50 open customers with the client each is linked to), served by
  ``directo-gateway serve`` in its own process, exactly as deployed: API-key auth, the
  problem-body error handlers, its reader pool, the Prometheus middleware, one uvicorn
  worker, JSON logs (to /dev/null).
* **bare** — a FastAPI app with an asyncpg pool and one endpoint running one similar query
  on the same tables (the same 50 customers, the same columns, the same linked-client
  subquery) and returning the same JSON shape; same uvicorn, same flags, same logging of
  each request.

The load comes from this process: ``--concurrency`` keep-alive HTTP/1.1 connections on
loopback, each sending the next request as soon as the answer is in, for ``--seconds``
after a warm-up. The client is a few lines of raw asyncio (on uvloop), so that it costs
far less CPU per request than either server — on a 2-core machine client, server and
PostgreSQL share the cores, and a heavy client would make both servers look alike. The
targets are measured in alternating rounds (bare, gateway, bare, …) so that both see the
same machine; the figures are pooled over the rounds.

Targets: gateway throughput ≥ 60% of bare, gateway p99 ≤ 3× bare p99.

``--profile FILE`` runs the gateway under cProfile (its figures are then slower) and prints
the functions that took the most time of their own; bench/README.md says where the time
goes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
API_KEY = "bench-api-key"
SANDBOX_TOKEN = "bench-token"  # noqa: S105 - the sandbox's, not a secret
COMPANY = "bench-firm"
PAGE = 50

BARE_QUERY = """
SELECT c.code, c.name, c.regno, c.vatregno, c.address1, c.address2, c.address3, c.county,
       c.country, c.contact, c.email, c.phone, c.closed, c.missing_since,
       (SELECT l.client_id FROM client_links l
         WHERE l.company_id = $1 AND l.customer_code = c.code) AS linked_client_id
  FROM directo_customers c
 WHERE c.connection_id = (SELECT k.id FROM connections k
                           WHERE k.company_id = $1 AND k.client_id IS NULL)
   AND NOT c.closed
 ORDER BY c.code
 LIMIT $2
"""


def bare_app(dsn: str) -> Any:
    """The floor: FastAPI, an asyncpg pool, one query, a hand-built JSON body."""
    from contextlib import asynccontextmanager

    import asyncpg
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    pool: list[Any] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        pool.append(await asyncpg.create_pool(dsn, min_size=5, max_size=10))
        yield
        await pool[0].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/customers/{company_id}")
    async def customers(company_id: str) -> JSONResponse:
        rows = await pool[0].fetch(BARE_QUERY, company_id, PAGE)
        items = [
            {
                "code": row["code"],
                "name": row["name"],
                "registration_code": row["regno"] or None,
                "vat_number": row["vatregno"] or None,
                "address": {
                    "address1": row["address1"],
                    "address2": row["address2"],
                    "address3": row["address3"],
                    "county": row["county"],
                    "country": row["country"],
                },
                "contact": {"name": row["contact"], "email": row["email"], "phone": row["phone"]},
                "closed": row["closed"],
                "missing_since": row["missing_since"].isoformat() if row["missing_since"] else None,
                "linked_client_id": row["linked_client_id"],
            }
            for row in rows
        ]
        next_cursor = items[-1]["code"] if len(items) == PAGE else None
        return JSONResponse({"items": items, "next_cursor": next_cursor})

    return app


def serve_bare(port: int, database_url: str) -> None:
    import uvicorn
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    uvicorn.run(bare_app(dsn), host="127.0.0.1", port=port, log_level="info")


# ---------------------------------------------------------------------------------------
# Data


async def prepare_database(url: str, customers: int) -> None:
    """A migrated scratch database: one company, its connection, `customers` customers
    imported by the real import job from a sandbox (in a thread of this process), a tenth
    of them linked to clients."""
    from sqlalchemy import select

    from app.config import Settings
    from app.db.admin import ensure_database, upgrade_to_head
    from app.db.models import ClientLink, Connection, ConnectionScope, DirectoCustomer, Integration
    from app.directo.sandbox import DatabaseSpec, SandboxState, Sizes, TokenSpec, serve_in_thread
    from app.jobs.runner import run_tracked_job
    from app.resources import open_resources
    from app.security.contexts import token_context
    from app.sync.imports import Feed, start_import
    from app.sync.jobs import CUSTOMERS_IMPORT

    await ensure_database(url)
    await asyncio.to_thread(upgrade_to_head, url)
    spec = DatabaseSpec(name="bench", seed=42, sizes=Sizes(customers=customers))
    state = SandboxState([spec], [TokenSpec(SANDBOX_TOKEN, "bench")])
    with serve_in_thread(state) as sandbox_url:
        settings = Settings.model_validate(
            {"database": {"url": url}, "directo": {"base_url": sandbox_url}}
        )
        async with open_resources(settings) as resources:
            async with resources.sessionmaker() as session:
                connection = Connection(
                    id=uuid.uuid4(),
                    company_id=COMPANY,
                    scope=ConnectionScope.COMPANY,
                    token_hint=SANDBOX_TOKEN[-4:],
                )
                sealed = resources.secrets.seal(SANDBOX_TOKEN, context=token_context(connection.id))
                connection.token_encrypted, connection.token_key_id = (
                    sealed.ciphertext,
                    sealed.key_id,
                )
                session.add(Integration(id=uuid.uuid4(), company_id=COMPANY, enabled=True))
                session.add(connection)
                await session.flush()
                job, _ = await start_import(session, connection, Feed.CUSTOMERS)
                await session.commit()
            await run_tracked_job(resources, CUSTOMERS_IMPORT, job.id)
            async with resources.sessionmaker() as session:
                codes = (
                    await session.scalars(
                        select(DirectoCustomer.code).order_by(DirectoCustomer.code)
                    )
                ).all()
                for n, code in enumerate(codes[::10]):
                    session.add(
                        ClientLink(
                            id=uuid.uuid4(),
                            company_id=COMPANY,
                            client_id=f"client-{n}",
                            customer_code=code,
                            connection_id=connection.id,
                        )
                    )
                await session.commit()
            async with resources.engine.begin() as sql:
                # As autovacuum would soon after an import: without statistics the planner
                # sorts every customer for the first page instead of walking the index.
                await sql.exec_driver_sql("ANALYZE")
    if len(codes) != customers:
        raise RuntimeError(f"the import wrote {len(codes)} customers, not {customers}")
    print(f"seeded {len(codes)} customers ({len(codes[::10])} linked) with the import job")


# ---------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    path: str
    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]  # the server's output, shown if it dies

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            self.log.seek(0)
            tail = self.log.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")


def start_gateway(database_url: str, *, profile: str | None = None) -> Server:
    """`directo-gateway serve` as deployed; under cProfile (written on SIGINT) if asked."""
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DATABASE__URL": database_url,
        "GATEWAY_API__KEYS": API_KEY,
        "GATEWAY_REDIS__QUEUE_NAME": f"bench-api-{port}",
        "GATEWAY_LOG__FORMAT": "json",
        "GATEWAY_LOG__LEVEL": "INFO",
    }
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [sys.executable, *profiler, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Server("gateway", f"/v1/companies/{COMPANY}/directo/customers", process, port, log)


def start_bare(database_url: str) -> Server:
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(port), "--database-url", database_url],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Server("bare", f"/customers/{COMPANY}", process, port, log)


def wait_until_serving(server: Server) -> None:
    """Until the route answers 200 (and with the same 50 customers on both servers)."""
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{server.port}{server.path}"
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code != 200:
            raise RuntimeError(f"{server.name} answered {response.status_code}: {response.text}")
        if len(response.json()["items"]) != PAGE:
            raise RuntimeError(f"{server.name} did not answer a full page")
        return
    raise RuntimeError(f"{server.name} did not start")


def same_answer(gateway: Server, bare: Server) -> None:
    """Both endpoints answer the same customers with the same links (a fair comparison)."""
    answers = []
    for server in (gateway, bare):
        url = f"http://127.0.0.1:{server.port}{server.path}"
        body = httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"}).json()
        answers.append([(item["code"], item["linked_client_id"]) for item in body["items"]])
    if answers[0] != answers[1]:
        raise RuntimeError("the gateway and the bare app answer different pages")


# ---------------------------------------------------------------------------------------
# Load


@dataclass
class Run:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


async def _connection(port: int, request: bytes, until: float, run: Run, record: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (started := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"transfer-encoding":
                    raise RuntimeError("the client reads Content-Length bodies only")
            await reader.readexactly(length)
            if record:
                run.latencies.append(time.perf_counter() - started)
                run.errors += status != 200
    finally:
        writer.close()


async def load(server: Server, *, concurrency: int, seconds: float, warmup: float) -> Run:
    request = (
        f"GET {server.path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    run = Run()
    until = time.perf_counter() + warmup
    await asyncio.gather(
        *(_connection(server.port, request, until, run, False) for _ in range(concurrency))
    )
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(server.port, request, started + seconds, run, True)
            for _ in range(concurrency)
        )
    )
    run.seconds = time.perf_counter() - started
    return run


def run_load(server: Server, *, concurrency: int, seconds: float, warmup: float) -> Run:
    server.check_alive()
    coroutine = load(server, concurrency=concurrency, seconds=seconds, warmup=warmup)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    try:
        return uvloop.run(coroutine)
    except OSError:
        server.check_alive()  # a dead server explains itself
        raise


@dataclass
class Figures:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @classmethod
    def of(cls, runs: list[Run]) -> Figures:
        latencies = sorted(latency for run in runs for latency in run.latencies)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        return cls(
            requests=len(latencies),
            seconds=sum(run.seconds for run in runs),
            errors=sum(run.errors for run in runs),
            p50_ms=cuts[49] * 1000,
            p99_ms=cuts[98] * 1000,
        )


def line(name: str, figures: Figures) -> str:
    return (
        f"{name:<8} {figures.rps:>7.0f} req/s  p50 {figures.p50_ms:>6.2f} ms  "
        f"p99 {figures.p99_ms:>6.2f} ms  ({figures.requests} requests, {figures.errors} errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and target")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--profile", metavar="FILE", help="run the gateway under cProfile, write and summarise"
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.database_url)
        return

    from app.db.admin import drop_database

    database_url = f"{POSTGRES}/gw_bench_api_{uuid.uuid4().hex[:8]}"
    servers: list[Server] = []
    runs: dict[str, list[Run]] = {"bare": [], "gateway": []}
    try:
        asyncio.run(prepare_database(database_url, args.customers))
        servers = [start_bare(database_url), start_gateway(database_url, profile=args.profile)]
        for server in servers:
            wait_until_serving(server)
        same_answer(servers[1], servers[0])
        print(
            f"{dt.date.today()}: {args.rounds} round(s) of {args.seconds:.0f} s per target, "
            f"{args.concurrency} connections, {os.cpu_count()} CPUs"
        )
        for round_number in range(1, args.rounds + 1):
            for server in servers:
                run = run_load(
                    server, concurrency=args.concurrency, seconds=args.seconds, warmup=args.warmup
                )
                runs[server.name].append(run)
                print(f"  round {round_number}: " + line(server.name, Figures.of([run])))
    finally:
        for server in servers:
            # SIGINT: uvicorn shuts down cleanly, so a profiled gateway writes its profile.
            server.process.send_signal(signal.SIGINT)
            server.process.wait()
        asyncio.run(drop_database(database_url))
    if args.profile:
        print(f"\ngateway profile ({args.profile}), by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)

    bare, gateway = Figures.of(runs["bare"]), Figures.of(runs["gateway"])
    print(line("bare", bare))
    print(line("gateway", gateway))
    throughput = gateway.rps / bare.rps
    tail = gateway.p99_ms / bare.p99_ms
    print(
        f"ratios: gateway/bare throughput = {throughput:.0%} (target ≥ 60%: "
        f"{'met' if throughput >= 0.6 else 'MISSED'}), p99 = {tail:.2f}× (target ≤ 3×: "
        f"{'met' if tail <= 3 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
