"""Month-end of the whole fleet on one machine: every client due the same day.

Run: ``python bench/fleet.py`` (``--scale 1 --workers 2 --latency 0.3``; ``--compare-scale``
runs the scale and 4× it, ``--compare-workers`` runs 1 and 2 worker processes). Needs the
local PostgreSQL and Redis; uses a scratch database and queue it drops at the end.

The fleet (`fleet_seed.FleetPlan`, at ``--scale 1``): 200 companies × 25 clients linked to
customers of the company's Directo database, 20 clients with their own connection, one large
firm of 1,000 linked clients — 6,020 clients, each with its own token and sandbox database,
all due last month's first read now. Rows are inserted in bulk; the run goes through the
product as deployed:

* the Directo sandbox in its own process, every call answered after ``--latency`` seconds,
  counting the calls in flight per token (`CallGauge`);
* ``--workers`` real worker processes (``python -m app.cli worker``);
* the real ``directo-gateway schedule`` creating and queueing the due reads (as the hourly
  tick would), and the workers running them.

First, single-client companies warm the workers up, then one client's import is measured
alone (CPU of the workers and of the database's PostgreSQL backends, idle rate subtracted;
median of five) — the CPU floor's unit. Then the fleet runs, timed from the schedule's
transaction (the jobs' ``created_at``: where a running worker's hourly tick would start; the
command's interpreter start-up is printed apart) to the last job's end. It prints the
figures and targets (PASS/FAIL), and its last line repeats them as ``key=value`` pairs:

* makespan; Directo calls (all, per client); the most calls in flight to one connection the
  sandbox saw, and the cap (``directo.max_concurrency_per_connection``);
* completion time per company (from the schedule's transaction to its last job's end):
  p50/p95/max for all, for the small companies, and the large firm's;
* the **latency floor** (max over connections of calls × latency ÷ cap) and the **CPU
  floor** (one client's CPU alone × clients ÷ cores); the small companies' own floors;
* each worker's peak RSS (``VmHWM``) and the database's PostgreSQL connections in use
  (peak of ``pg_stat_activity``); the CPU the workers, the backends and the sandbox used.

"Their own floor" of the small companies is the larger of their latency floor and their CPU
floor (one client's CPU × the small companies' clients ÷ cores): what they would take if the
large firm were not there.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import fleet_seed
import httpx
from fleet_seed import FleetPlan

ROOT = fleet_seed.ROOT
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FINAL = ("succeeded", "partially_failed", "failed")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


class Monitor:
    """Samples, every 0.2 s, the database's PostgreSQL connections (peak) and the CPU of its
    backends; `cpu` gives the workers' and backends' CPU since `mark`."""

    def __init__(self, dsn: str, database: str, workers: list[int]) -> None:
        self.dsn, self.database, self.workers = dsn, database, workers
        self.peak_connections = 0
        self._backends: dict[int, float] = {}  # pid -> CPU at mark (0 for later ones)
        self._last: dict[int, float] = {}
        self._workers_at_mark: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the connection

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self.dsn)
        await self.mark()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._connection.close()

    async def _pids(self) -> list[int]:
        async with self._lock:
            rows = await self._connection.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.database,
            )
        return [row["pid"] for row in rows]

    async def _sample(self) -> None:
        pids = await self._pids()
        self.peak_connections = max(self.peak_connections, len(pids))
        for pid in pids:
            now = cpu_seconds(pid)
            if now is not None:
                self._backends.setdefault(pid, 0.0)
                self._last[pid] = now

    async def _run(self) -> None:
        while True:
            await self._sample()
            await asyncio.sleep(0.2)

    async def mark(self) -> None:
        """Start counting CPU from now; the connection peak starts again too."""
        self._backends.clear()
        self._last.clear()
        for pid in await self._pids():
            now = cpu_seconds(pid)
            if now is not None:
                self._backends[pid] = self._last[pid] = now
        self._workers_at_mark = [cpu_seconds(pid) or 0.0 for pid in self.workers]
        self.peak_connections = 0

    async def cpu(self) -> tuple[float, float]:
        """(workers' CPU, the database's backends' CPU) since `mark`."""
        backends = await self.backends_cpu()
        return sum(self.workers_cpu()), backends

    def workers_cpu(self) -> list[float]:
        """Each worker's CPU since `mark`."""
        return [
            (cpu_seconds(pid) or 0.0) - start
            for pid, start in zip(self.workers, self._workers_at_mark, strict=True)
        ]

    async def backends_cpu(self) -> float:
        await self._sample()
        return sum(self._last[pid] - start for pid, start in self._backends.items())


@dataclass
class Run:
    """One fleet run's settings, processes and figures."""

    scale: float
    workers: int
    latency: float
    timeout: float
    rehearse: bool = True
    plan: FleetPlan = field(init=False)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.plan = FleetPlan.build(self.scale)

    @property
    def database(self) -> str:
        return f"gw_bench_fleet_{self.tag}"

    @property
    def url(self) -> str:
        return f"{POSTGRES}/{self.database}"

    @property
    def dsn(self) -> str:
        return self.url.replace("+asyncpg", "")

    @property
    def queue(self) -> str:
        return f"bench-fleet-{self.tag}"

    def env(self, sandbox_url: str) -> dict[str, str]:
        return {
            **os.environ,
            "GATEWAY_DATABASE__URL": self.url,
            "GATEWAY_REDIS__URL": REDIS,
            "GATEWAY_REDIS__QUEUE_NAME": self.queue,
            "GATEWAY_DIRECTO__BASE_URL": sandbox_url,
            # A retryable failure would otherwise wait Directo's 60 s; none is expected.
            "GATEWAY_DIRECTO__RETRY_BASE_DELAY": "1",
            "GATEWAY_WORKER__METRICS_PORT": "0",  # two workers on one host
            "GATEWAY_LOG__LEVEL": "WARNING",
        }


def start_sandbox(run: Run) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    latency_ms = str(round(run.latency * 1000))
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "fleet_seed.py"),
            "--scale",
            str(run.scale),
            "--latency-ms",
            latency_ms,
            "--port",
            str(port),
            "--cache-entries",
            # A rehearsed run keeps every feed the month-end reads (see `rehearse`).
            "100000" if run.rehearse else "16",
        ],
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the sandbox exited")
        try:
            httpx.get(f"{url}/_sandbox/health", timeout=1).raise_for_status()
            return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the sandbox did not start")


async def schedule(env: dict[str, str]) -> tuple[float, str]:
    """Run `directo-gateway schedule` (create and queue what is due); (seconds, summary)."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "schedule",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"schedule failed ({process.returncode}): {err.decode()[-2000:]}")
    lines = out.decode().strip().splitlines()
    return time.perf_counter() - started, lines[-1] if lines else ""


async def wait_for_jobs(db: asyncpg.Connection, companies: list[str], *, within: float) -> None:
    """Until every statistics import of `companies` has ended (raises on the deadline)."""
    deadline = time.monotonic() + within
    while True:
        row = await db.fetchrow(
            "SELECT count(*) AS jobs, count(*) FILTER (WHERE status = ANY($2)) AS ended "
            "FROM jobs WHERE kind = 'statistics_import' AND company_id = ANY($1)",
            companies,
            list(FINAL),
        )
        if row["jobs"] and row["ended"] == row["jobs"]:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{row['ended']} of {row['jobs']} jobs ended in {within:.0f} s")
        await asyncio.sleep(0.1)


def sandbox_get(url: str, path: str) -> Any:
    return httpx.get(f"{url}{path}", timeout=120).json()


def sandbox_clear(url: str) -> None:
    httpx.delete(f"{url}/_sandbox/requests", timeout=30)
    httpx.delete(f"{url}/_sandbox/concurrency", timeout=30)


async def rehearse(env: dict[str, str], db: asyncpg.Connection, companies: list[str]) -> float:
    """Run the month-end once untimed, then delete what it wrote: the sandbox has rendered
    (and cached) every feed, so the timed run measures the gateway, not the sandbox's
    rendering — Directo renders on its own servers, not on the gateway's cores. The due
    reads are due again; the workers stay warm, as they are in a month-long deployment."""
    started = time.perf_counter()
    await schedule(env)
    await wait_for_jobs(db, companies, within=3600)
    async with db.transaction():
        for table in ("monthly_statistics", "statistics_reads", "events"):
            await db.execute(f"DELETE FROM {table} WHERE company_id = ANY($1)", companies)  # noqa: S608
        await db.execute(
            "DELETE FROM company_event_sequences WHERE company_id = ANY($1)", companies
        )
        await db.execute(
            "DELETE FROM jobs WHERE kind = 'statistics_import' AND company_id = ANY($1)",
            companies,
        )
    return time.perf_counter() - started


async def measure_solo(
    run: Run, env: dict[str, str], db: asyncpg.Connection, monitor: Monitor
) -> tuple[float, float]:
    """Warm the workers up, then one client's import alone, five times: the median
    (worker CPU, PostgreSQL CPU) of one client, each net of the idle rate."""
    since = fleet_seed.last_settings_time()
    warm, measured = run.plan.solo[:2], run.plan.solo[2:]
    await fleet_seed.seed(run.url, warm, settings_since=since)
    await schedule(env)
    await wait_for_jobs(db, [c.company_id for c in warm], within=120)
    await monitor.mark()
    idle_started = time.perf_counter()
    await asyncio.sleep(3)
    idle_workers, idle_pg = await monitor.cpu()
    idle_seconds = time.perf_counter() - idle_started
    samples: list[tuple[float, float]] = []
    for company in measured:
        await fleet_seed.seed(run.url, [company], settings_since=since)
        await monitor.mark()
        started = time.perf_counter()
        await schedule(env)
        await wait_for_jobs(db, [company.company_id], within=120)
        workers, pg = await monitor.cpu()
        window = time.perf_counter() - started
        samples.append(
            (
                max(0.0, workers - idle_workers / idle_seconds * window),
                max(0.0, pg - idle_pg / idle_seconds * window),
            )
        )
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
    )


@dataclass
class JobTimes:
    """The fleet's jobs: when they were created (the schedule's transaction), each company's
    last end (epoch seconds), their statuses and the first errors of failed ones."""

    created: float
    ended: dict[str, float]
    statuses: Counter[str]
    errors: list[str]


async def job_times(db: asyncpg.Connection, companies: list[str]) -> JobTimes:
    rows = await db.fetch(
        "SELECT company_id, status, extract(epoch FROM created_at) AS created, "
        "extract(epoch FROM finished_at) AS ended, errors::text "
        "FROM jobs WHERE kind = 'statistics_import' AND company_id = ANY($1)",
        companies,
    )
    ended: dict[str, float] = {}
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    for row in rows:
        statuses[row["status"]] += 1
        company = row["company_id"]
        ended[company] = max(ended.get(company, 0.0), float(row["ended"]))
        if row["status"] != "succeeded" and len(errors) < 3:
            errors.append(f"{company}: {row['errors'][:300]}")
    created = min(float(row["created"]) for row in rows)
    return JobTimes(created, ended, statuses, errors)


def directo_calls(sandbox_url: str) -> Counter[str]:
    """Calls (gets) per token fingerprint since the last clear."""
    entries = sandbox_get(sandbox_url, "/_sandbox/requests")
    return Counter(entry["token"] for entry in entries if entry["op"] == "get")


async def run_fleet(run: Run) -> None:
    """Seed, run the month-end and fill `run.figures` / `run.lines` (see the docstring)."""
    from app.config import DirectoSettings
    from app.db.admin import drop_database, ensure_database, upgrade_to_head
    from app.directo.sandbox.state import token_fingerprint

    cap = DirectoSettings().max_concurrency_per_connection
    sandbox, sandbox_url = start_sandbox(run)
    env = run.env(sandbox_url)
    logs = Path(tempfile.mkdtemp(prefix=f"bench-fleet-{run.tag}-"))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await ensure_database(run.url)
        await asyncio.to_thread(upgrade_to_head, run.url)
        for n in range(run.workers):
            with (logs / f"worker-{n + 1}.log").open("wb") as log:
                workers.append(
                    subprocess.Popen(  # noqa: ASYNC220 - long-lived children, started once
                        [sys.executable, "-m", "app.cli", "worker"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        db = await asyncpg.connect(run.dsn)
        monitor = Monitor(run.dsn, run.database, [worker.pid for worker in workers])
        await monitor.start()
        try:
            solo_workers, solo_pg = await measure_solo(run, env, db, monitor)
            seeded = time.perf_counter()
            clients = await fleet_seed.seed(
                run.url, run.plan.companies, settings_since=fleet_seed.last_settings_time()
            )
            seed_seconds = time.perf_counter() - seeded
            ids = [company.company_id for company in run.plan.companies]
            rehearsal = await rehearse(env, db, ids) if run.rehearse else None
            sandbox_clear(sandbox_url)
            sandbox_cpu = cpu_seconds(sandbox.pid) or 0.0
            await monitor.mark()
            started = time.time()
            schedule_seconds, schedule_summary = await schedule(env)
            await wait_for_jobs(db, ids, within=run.timeout)
            per_worker_cpu = monitor.workers_cpu()
            workers_cpu, pg_cpu = sum(per_worker_cpu), await monitor.backends_cpu()
            sandbox_cpu = (cpu_seconds(sandbox.pid) or 0.0) - sandbox_cpu
            times = await job_times(db, ids)
            imported = await db.fetchval(
                "SELECT count(*) FROM statistics_reads WHERE company_id = ANY($1) "
                "AND completed_at IS NOT NULL",
                ids,
            )
            peak_connections = monitor.peak_connections
        finally:
            await monitor.stop()
            await db.close()
        rss = [peak_rss_mb(worker.pid) for worker in workers]
        calls = directo_calls(sandbox_url)
        in_flight = sandbox_get(sandbox_url, "/_sandbox/concurrency")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        sandbox.terminate()
        sandbox.wait()
        await drop_database(run.url)
        await drop_queue(run.queue)

    plan = run.plan
    large = next(c for c in plan.companies if c.kind == "large")
    small = [c for c in plan.companies if c.kind == "small"]
    tokens_of = {
        company.company_id: [
            token_fingerprint(db_.token)
            for db_ in (company.database, *(own for _, own in company.own))
        ]
        for company in plan.companies
    }
    small_tokens = {fp for c in small for fp in tokens_of[c.company_id]}
    total_calls = sum(calls.values())
    most_in_flight = max((entry["max"] for entry in in_flight.values()), default=0)
    above_cap = sum(1 for entry in in_flight.values() if entry["max"] > cap)
    busiest = max(calls.values(), default=0)
    busiest_small = max((n for fp, n in calls.items() if fp in small_tokens), default=0)
    latency_floor = busiest * run.latency / cap
    small_latency_floor = busiest_small * run.latency / cap
    solo_cpu = solo_workers + solo_pg
    cpu_floor = solo_cpu * clients / CORES
    small_clients = sum(c.clients for c in small)
    small_cpu_floor = solo_cpu * small_clients / CORES
    floor = max(latency_floor, cpu_floor)
    small_floor = max(small_latency_floor, small_cpu_floor)
    # Timed from the schedule's transaction (when the hourly tick would start creating the
    # work in a running worker): the command's interpreter start is not the month-end's.
    t0 = times.created
    done = {company: ended - t0 for company, ended in times.ended.items()}
    statuses, errors = times.statuses, times.errors
    makespan = max(done.values(), default=0.0)
    command_makespan = max(times.ended.values(), default=t0) - started
    all_times = list(done.values())
    small_times = [done.get(c.company_id, float("inf")) for c in small]
    large_time = done.get(large.company_id, float("inf"))
    small_p95 = percentile(small_times, 0.95)
    jobs = sum(statuses.values())
    run.figures = {
        "scale": run.scale,
        "workers": run.workers,
        "rehearsed": run.rehearse,
        "latency_s": run.latency,
        "companies": len(plan.companies),
        "clients": clients,
        "clients_imported": imported,
        "jobs": jobs,
        "jobs_succeeded": statuses["succeeded"],
        "makespan_s": round(makespan, 2),
        "makespan_from_command_s": round(command_makespan, 2),
        "schedule_s": round(schedule_seconds, 2),
        "schedule_startup_s": round(t0 - started, 2),
        "calls": total_calls,
        "calls_per_client": round(total_calls / max(clients, 1), 4),
        "max_in_flight": most_in_flight,
        "cap": cap,
        "connections_above_cap": above_cap,
        "p50_s": round(percentile(all_times, 0.5), 2),
        "p95_s": round(percentile(all_times, 0.95), 2),
        "max_s": round(makespan, 2),
        "small_p50_s": round(percentile(small_times, 0.5), 2),
        "small_p95_s": round(small_p95, 2),
        "small_max_s": round(max(small_times, default=0.0), 2),
        "large_s": round(large_time, 2),
        "latency_floor_s": round(latency_floor, 2),
        "cpu_floor_s": round(cpu_floor, 2),
        "small_floor_s": round(small_floor, 2),
        "solo_cpu_s": round(solo_cpu, 4),
        "solo_worker_cpu_s": round(solo_workers, 4),
        "solo_pg_cpu_s": round(solo_pg, 4),
        "worker_cpu_s": round(workers_cpu, 1),
        "per_worker_cpu_s": "/".join(f"{value:.1f}" for value in per_worker_cpu),
        "pg_cpu_s": round(pg_cpu, 1),
        "sandbox_cpu_s": round(sandbox_cpu, 1),
        "cpu_used_per_core_s": round((workers_cpu + pg_cpu + sandbox_cpu) / CORES, 1),
        "rss_mb": "/".join(f"{value:.0f}" for value in rss),
        "rss_max_mb": round(max(rss), 1),
        "pg_connections_peak": peak_connections,
    }
    targets = [
        (
            "every job succeeded, every client imported",
            statuses["succeeded"] == jobs and imported == clients,
            f"{statuses['succeeded']}/{jobs} jobs, {imported}/{clients} clients",
        ),
        (
            "0 moments above the cap",
            above_cap == 0 and most_in_flight <= cap,
            f"most in flight {most_in_flight}, cap {cap}",
        ),
        (
            "makespan ≤ 1.5× the larger floor",
            makespan <= 1.5 * floor,
            f"{makespan:.1f} s ≤ {1.5 * floor:.1f} s",
        ),
        (
            "small companies' p95 ≤ 2× their own floor",
            small_p95 <= 2 * small_floor,
            f"{small_p95:.1f} s ≤ {2 * small_floor:.1f} s",
        ),
    ]
    if run.latency >= 2.0:
        targets.append(
            (
                f"at {run.latency:g} s latency, makespan ≤ 1.5× the latency floor",
                makespan <= 1.5 * latency_floor,
                f"{makespan:.1f} s ≤ {1.5 * latency_floor:.1f} s",
            )
        )
    run.figures["targets_failed"] = sum(1 for _, ok, _ in targets if not ok)
    own = sum(len(c.own) for c in small)
    run.lines = [
        f"fleet        {len(small)} companies × {fleet_seed.LINKED_PER_COMPANY} linked clients "
        f"+ {own} own-connection clients + a large firm of {large.linked} = {clients} clients; "
        f"{run.workers} worker process(es); latency {run.latency:g} s per call; cap {cap} per "
        f"connection; {CORES} cores; load average {os.getloadavg()[0]:.1f}",
        f"seeded       {clients} clients in {seed_seconds:.1f} s (multi-row INSERTs)",
        (
            f"rehearsal    the month-end once untimed ({rehearsal:.1f} s), its rows deleted: "
            "the sandbox serves every feed from its cache, its rendering is not timed"
            if rehearsal is not None
            else "rehearsal    none (--no-rehearsal): the sandbox renders every feed in the run"
        ),
        f"solo         one client's import alone: workers {solo_workers * 1000:.0f} ms + "
        f"PostgreSQL {solo_pg * 1000:.0f} ms = {solo_cpu * 1000:.0f} ms CPU (median of 5)",
        f"schedule     `directo-gateway schedule` {schedule_seconds:.1f} s wall, of which "
        f"{t0 - started:.1f} s start-up before its transaction: {schedule_summary}",
        f"makespan     {makespan:.1f} s from the schedule's transaction to the last job's end "
        f"({command_makespan:.1f} s from the command's start) — jobs {dict(statuses)}, "
        f"clients imported {imported}/{clients}",
        f"Directo      {total_calls} calls ({total_calls / max(clients, 1):.3f} per client); "
        f"busiest connection {busiest} calls",
        f"concurrency  most calls in flight to one connection {most_in_flight} (cap {cap}); "
        f"connections above the cap {above_cap}",
        f"completion   all p50 {percentile(all_times, 0.5):.1f} s, p95 "
        f"{percentile(all_times, 0.95):.1f} s, max {makespan:.1f} s; small p50 "
        f"{percentile(small_times, 0.5):.1f} s, p95 {small_p95:.1f} s, max "
        f"{max(small_times, default=0.0):.1f} s; large firm {large_time:.1f} s",
        f"floors       latency {busiest} × {run.latency:g} s ÷ {cap} = {latency_floor:.2f} s; "
        f"CPU {solo_cpu * 1000:.0f} ms × {clients} ÷ {CORES} = {cpu_floor:.1f} s; small "
        f"companies' own: latency {small_latency_floor:.2f} s, CPU {small_cpu_floor:.1f} s",
        f"CPU used     workers {workers_cpu:.1f} s "
        f"({' + '.join(f'{value:.1f}' for value in per_worker_cpu)}), "
        f"PostgreSQL {pg_cpu:.1f} s (this database's backends), sandbox {sandbox_cpu:.1f} s "
        f"— ÷ {CORES} cores = {(workers_cpu + pg_cpu + sandbox_cpu) / CORES:.1f} s",
        "RSS          " + ", ".join(f"worker {n + 1} peak {v:.0f} MB" for n, v in enumerate(rss)),
        f"PostgreSQL   connections in use (this database): peak {peak_connections}",
        *(
            f"target       {'PASS' if ok else 'FAIL'}  {name}: {detail}"
            for name, ok, detail in targets
        ),
        *(f"failed job   {error}" for error in errors),
        f"worker logs  {logs}",
    ]


async def drop_queue(queue: str) -> None:
    """Delete the scratch queue's keys (its jobs, cron runs, budget leases)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS)
    try:
        keys = [key async for key in redis.scan_iter(match=f"*{queue}*", count=1000)]
        for start in range(0, len(keys), 500):
            await redis.delete(*keys[start : start + 500])
    finally:
        await redis.aclose()


def key_values(figures: dict[str, Any], prefix: str = "") -> str:
    return " ".join(f"{prefix}{key}={value}" for key, value in figures.items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fleet size (1 = 6,020 clients)")
    parser.add_argument("--workers", type=int, choices=(1, 2), default=2)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per Directo call")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for jobs")
    parser.add_argument(
        "--no-rehearsal",
        action="store_true",
        help="time the first month-end, the sandbox rendering every feed on the same cores",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--compare-scale", action="store_true", help="run --scale and 4× it")
    mode.add_argument("--compare-workers", action="store_true", help="run 1 and 2 workers")
    args = parser.parse_args()

    rehearsed = not args.no_rehearsal
    if args.compare_scale:
        runs = [
            Run(args.scale, args.workers, args.latency, args.timeout, rehearsed),
            Run(4 * args.scale, args.workers, args.latency, args.timeout, rehearsed),
        ]
    elif args.compare_workers:
        runs = [
            Run(args.scale, workers, args.latency, args.timeout, rehearsed) for workers in (1, 2)
        ]
    else:
        runs = [Run(args.scale, args.workers, args.latency, args.timeout, rehearsed)]
    for n, run in enumerate(runs):
        started = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
        print(
            f"— run {n + 1}/{len(runs)}: scale {run.scale:g}, {run.workers} worker(s), "
            f"latency {run.latency:g} s (started {started} UTC)",
            flush=True,
        )
        asyncio.run(run_fleet(run))
        print("\n".join(run.lines), flush=True)
    if len(runs) == 1:
        print(key_values(runs[0].figures))
        return
    summary: dict[str, Any] = {}
    if args.compare_scale:
        small, big = (run.figures["rss_max_mb"] for run in runs)
        ratio = big / small
        ok = ratio <= 1.25
        print(
            f"RSS          peak per worker {small:.0f} MB at scale {runs[0].scale:g}, "
            f"{big:.0f} MB at {runs[1].scale:g}: {ratio:.2f}×"
        )
        print(
            f"target       {'PASS' if ok else 'FAIL'}  peak RSS per worker flat from the "
            f"fleet to 4× it: {ratio:.2f}× ≤ 1.25×"
        )
        summary = {"rss_ratio": round(ratio, 2), "rss_flat": "PASS" if ok else "FAIL"}
    else:
        for run in runs:
            floor = run.figures["latency_floor_s"]
            makespan = run.figures["makespan_s"]
            ok = makespan <= 1.5 * floor
            print(
                f"target       {'PASS' if ok else 'FAIL'}  {run.workers} worker(s): makespan "
                f"{makespan:.1f} s ≤ 1.5× latency floor {floor:.2f} s"
            )
            summary[f"w{run.workers}_within_latency_floor"] = "PASS" if ok else "FAIL"
    print(
        " ".join(
            [
                *(key_values(run.figures, f"run{n + 1}_") for n, run in enumerate(runs)),
                key_values(summary),
            ]
        )
    )


if __name__ == "__main__":
    main()
