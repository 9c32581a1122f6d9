"""`directo-gateway`: run the API, the worker, migrations, or everything at once (`dev`).

Each command imports what it runs inside its own body: `healthcheck` (the Docker
HEALTHCHECK, every 30 s) and `migrate` start without loading the app, the worker and the
ORM. No import here dodges a cycle: the CLI is the top of the layers (`.importlinter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import typer
import uvicorn
import yaml

from app.config import DEV_OPS_KEY, get_settings

cli = typer.Typer(help="Directo sync gateway", no_args_is_help=True, add_completion=False)

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "openapi.yaml"
# Held by a running `dev` (flock, released when it exits however it exits).
DEV_LOCK_PATH = Path(__file__).resolve().parents[1] / ".run" / "dev.lock"
_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _exit_on_missing_dependencies() -> None:
    from app.preflight import dependency_problems

    problems = asyncio.run(dependency_problems(get_settings()))
    for problem in problems:
        typer.secho(problem, fg=typer.colors.RED, err=True)
    if problems:
        raise typer.Exit(code=2)


@cli.command()
def migrate(
    create_database: bool = typer.Option(True, help="Create the database if missing"),
) -> None:
    """Apply database migrations (alembic upgrade head)."""
    from app.db.admin import ensure_database, upgrade_to_head

    _exit_on_missing_dependencies()
    url = get_settings().database.url
    if create_database and asyncio.run(ensure_database(url)):
        typer.echo("created the database")
    upgrade_to_head(url)
    typer.echo("migrations applied")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    workers: int = typer.Option(1, help="uvicorn worker processes"),
) -> None:
    """Run the HTTP API.

    The app writes its own structured access line per request (`http_request`), so
    uvicorn's is off. With `--workers N` (N > 1) every process counts its metrics into
    `PROMETHEUS_MULTIPROC_DIR` and `/metrics` merges them: a fresh temporary directory,
    removed at exit, unless the variable names one.
    """
    with _multiprocess_metrics(workers):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            proxy_headers=True,
        )


@contextlib.contextmanager
def _multiprocess_metrics(workers: int) -> Iterator[None]:
    if workers <= 1 or os.environ.get(_MULTIPROC_DIR):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="directo-gateway-metrics-") as directory:
        os.environ[_MULTIPROC_DIR] = directory  # inherited by uvicorn's worker processes
        try:
            yield
        finally:
            del os.environ[_MULTIPROC_DIR]


@cli.command()
def worker() -> None:
    """Run the background worker (arq) until interrupted."""
    from app.worker.settings import run_worker

    run_worker()


@cli.command()
def healthcheck(
    role: str = typer.Option("api", help="api: GET /healthz; worker: the worker's Redis beacon"),
    url: str = typer.Option("http://127.0.0.1:8000/healthz"),
) -> None:
    """Exit 0 when this container's process is healthy (used by the Docker HEALTHCHECK)."""
    if role == "api":
        import httpx

        try:
            healthy = httpx.get(url, timeout=3).status_code == 200
        except httpx.HTTPError:
            healthy = False
    else:
        from app.worker.settings import worker_is_alive

        healthy = asyncio.run(worker_is_alive(get_settings()))
    raise typer.Exit(code=0 if healthy else 1)


def openapi_document() -> str:
    from app.main import create_app

    return yaml.safe_dump(create_app().openapi(), sort_keys=False, allow_unicode=True)


@cli.command()
def openapi(check: bool = typer.Option(False, help="Fail if openapi.yaml is out of date")) -> None:
    """Write openapi.yaml from the app (or, with --check, verify it is current)."""
    document = openapi_document()
    if check:
        current = OPENAPI_PATH.read_text() if OPENAPI_PATH.exists() else ""
        if current != document:
            typer.secho(
                "openapi.yaml differs from the app: run `directo-gateway openapi`", err=True
            )
            raise typer.Exit(code=1)
        typer.echo("openapi.yaml is current")
        return
    OPENAPI_PATH.write_text(document)
    typer.echo(f"wrote {OPENAPI_PATH}")


@cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the first configured encryption key.

    All or nothing (one transaction). Exits 1 with one line naming the problem — a key
    missing from the ring, a secret that fails to decrypt, bad settings, a database error —
    and nothing re-encrypted.
    """
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from app.resources import open_resources
    from app.security.rotation import RotationFailed, rotate_secrets

    async def run() -> str:
        async with open_resources(get_settings()) as resources:
            async with resources.sessionmaker() as session, session.begin():
                report = await rotate_secrets(session, resources.secrets)
            primary = resources.secrets.primary_key_id
        return (
            f"re-encrypted under key {primary!r}: {report['connections']} connection tokens, "
            f"{report['webhook_endpoints']} webhook secrets, "
            f"{report['callback_secrets']} callback secrets; every stored secret is now "
            f"under {primary!r}"
        )

    def fail(reason: str) -> None:
        typer.secho(f"rotate-keys failed: {reason}; nothing was re-encrypted", err=True)
        raise typer.Exit(code=1)

    try:
        _exit_on_missing_dependencies()
        typer.echo(asyncio.run(run()))
    except RotationFailed as error:
        fail(f"{error.code}: {error.detail}")
    except ValidationError as error:  # only pydantic's messages: never an input value
        problems = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        fail("invalid settings: " + "; ".join(problems))
    except (SQLAlchemyError, OSError) as error:
        # The driver's own first line ("relation … does not exist"), not SQLAlchemy's text,
        # which carries the statement and its parameters (ciphertexts).
        cause = getattr(error, "orig", None) or error
        first_line = (str(cause).splitlines() or [""])[0]
        fail(f"database error ({type(cause).__name__}: {first_line})")


@cli.command()
def reload(
    company: str = typer.Option(..., help="Uku company id"),
    client: list[str] = typer.Option(
        [], help="Uku client id (repeatable; default: every client with Directo data)"
    ),
    months: int = typer.Option(12, min=1, help="Months to back-fill, ending this month"),
) -> None:
    """Back-fill monthly statistics (like POST …/directo/reloads) and follow it to its end.

    A worker must be running. Exits 0 when every client succeeded, 1 otherwise.
    """
    from app.db.models import Reload
    from app.db.repositories import statistics as statistics_repo
    from app.errors import AppError
    from app.resources import open_resources
    from app.statistics.reload_tracker import follow_reload, start_reload

    async def run() -> int:
        async with open_resources(get_settings()) as resources:
            requested = await start_reload(
                resources, company_id=company, client_ids=client or None, months=months
            )
            reload_row = requested.reload
            verb = "started" if requested.created else "already running:"
            typer.echo(f"reload {verb} {reload_row.id} ({reload_row.clients_total} clients)")
            with typer.progressbar(length=reload_row.clients_total, label="clients") as bar:
                shown = 0

                def show(current: Reload) -> None:
                    nonlocal shown
                    done = current.clients_done + current.clients_failed
                    bar.update(done - shown)
                    shown = done

                final, status = await follow_reload(resources, reload_row.id, show)
            async with resources.sessionmaker() as session:
                rows = await statistics_repo.reload_clients(session, final.id)
        for row in rows:
            if row.error:
                typer.secho(f"  {row.client_id}: {row.error.get('code')}", fg=typer.colors.RED)
        typer.echo(f"{status.value}: {final.clients_done} succeeded, {final.clients_failed} failed")
        return 0 if status.value == "succeeded" else 1

    _exit_on_missing_dependencies()
    try:
        code = asyncio.run(run())
    except AppError as error:
        typer.secho(f"{error.code}: {error.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=code)


@cli.command()
def schedule(
    date: dt.datetime | None = typer.Option(
        None, formats=["%Y-%m-%d"], help="The day (YYYY-MM-DD, Baltic time); default: today"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List only; create nothing"),
) -> None:
    """List the scheduled statistics reads due on a day and create (and queue) those due by
    now that were never created.

    One line per company, Directo database, month and read (first / settle): its clients,
    due time and whether its job exists. Exits 0 when listed (and created), 1 on a database
    or queue error, 2 on bad input or a missing dependency.
    """
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    from app.queue.names import JobName
    from app.resources import open_resources
    from app.statistics.import_days import local_today
    from app.statistics.schedule_report import format_schedule, schedule_for_day

    day = date.date() if date else local_today()

    async def run() -> list[str]:
        async with open_resources(get_settings()) as resources:
            async with resources.sessionmaker() as session, session.begin():
                report = await schedule_for_day(
                    session,
                    day=day,
                    now=dt.datetime.now(dt.UTC),
                    timing=resources.settings.statistics,
                    create=not dry_run,
                )
            for job in report.jobs:
                await resources.queue.enqueue(JobName.STATISTICS_IMPORT, job.id)
        return format_schedule(report)

    _exit_on_missing_dependencies()
    try:
        lines = asyncio.run(run())
    except (SQLAlchemyError, OSError) as error:
        cause = getattr(error, "orig", None) or error
        first_line = (str(cause).splitlines() or [""])[0]
        typer.secho(f"schedule failed: {type(cause).__name__}: {first_line}", err=True)
        raise typer.Exit(code=1) from None
    except RedisError as error:  # after the commit: the watchdog queues the jobs within a minute
        typer.secho(f"schedule created its jobs but could not queue them: {error}", err=True)
        raise typer.Exit(code=1) from None
    for line in lines:
        typer.echo(line)


@cli.command()
def demo(
    api_url: str = typer.Option("http://127.0.0.1:8000", help="The gateway `dev` runs"),
    api_key: str = typer.Option("dev-api-key", help="A key of GATEWAY_API__KEYS"),
    sandbox_url: str = typer.Option("http://127.0.0.1:8765", help="The Directo sandbox"),
    company: str = typer.Option("demo-company", help="Uku company id to play"),
    client: str = typer.Option("demo-client", help="Uku client id to link"),
    paid_timeout: float = typer.Option(300, help="Seconds to wait for invoice.paid"),
) -> None:
    """Run the whole flow against a running gateway (`./scripts/dev`) and its sandbox:
    enable, connect, import, link, summary settings, reload, export, pay, invoice.paid.

    Prints each step, what came back and where the console shows it. Exits 1 with the
    failing step's message.
    """
    from app.demo import DemoFailed, DemoOptions, run_demo

    options = DemoOptions(
        api_url=api_url.rstrip("/"),
        api_key=api_key,
        sandbox_url=sandbox_url.rstrip("/"),
        company_id=company,
        client_id=client,
        paid_timeout=paid_timeout,
    )
    try:
        asyncio.run(run_demo(options, typer.echo))
    except DemoFailed as failure:
        typer.secho(f"\ndemo failed at {failure.step!r}: {failure.message}", fg="red", err=True)
        raise typer.Exit(code=1) from None


@cli.command()
def sandbox(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8765),
) -> None:
    """Run the Directo sandbox (an XML Direct look-alike with seeded EE/LV data)."""
    from app.directo.sandbox import run_sandbox

    typer.echo(
        f"Directo sandbox on http://{host}:{port} — tokens: sandbox-token-ee, sandbox-token-lv, "
        "sandbox-token-ee-cards (customers/items only), sandbox-token-revoked"
    )
    run_sandbox(host=host, port=port)


@cli.command()
def dev(
    port: int = typer.Option(8000),
    sandbox_port: int = typer.Option(8765, help="Where the Directo sandbox listens"),
    lock_file: Path = typer.Option(DEV_LOCK_PATH, hidden=True),
) -> None:
    """Migrate, then run the API and a worker together (the newcomer's one command).

    Unless GATEWAY_DIRECTO__BASE_URL is set, the Directo sandbox runs too and the gateway
    talks to it, so the whole flow works without a Directo account. One at a time per
    checkout: a second `dev` says which one runs and exits 1.
    """
    with _only_dev(lock_file, port=port):
        _run_dev(port=port, sandbox_port=sandbox_port)


@contextlib.contextmanager
def _only_dev(lock_file: Path, *, port: int) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            typer.secho(
                f"./scripts/dev is already running ({holder}): use that one, or stop it "
                "(Ctrl-C in its terminal) first.",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(code=1) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, API on http://127.0.0.1:{port}")
        handle.flush()
        yield


def _run_dev(*, port: int, sandbox_port: int) -> None:
    os.environ.setdefault("GATEWAY_LOG__FORMAT", "console")
    os.environ.setdefault("GATEWAY_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
    os.environ.setdefault("GATEWAY_WEBHOOKS__ALLOW_HTTP", "true")
    # The operations console at /ops, signed in to with this development-only key.
    os.environ.setdefault("GATEWAY_OPS__KEYS", DEV_OPS_KEY)
    with_sandbox = "GATEWAY_DIRECTO__BASE_URL" not in os.environ
    if with_sandbox:
        os.environ["GATEWAY_DIRECTO__BASE_URL"] = f"http://127.0.0.1:{sandbox_port}"
        # The sandbox answers at once; production's 60 s between retries would only stall demos.
        os.environ.setdefault("GATEWAY_DIRECTO__RETRY_BASE_DELAY", "2")
        # A receipt added in the sandbox shows as paid within a minute or two, not 15.
        os.environ.setdefault("GATEWAY_SYNC__PAYMENT_POLL_MINUTES", "0.5")
    get_settings.cache_clear()
    migrate(create_database=True)
    executable = [sys.executable, "-m", "app.cli"]
    children = [
        subprocess.Popen([*executable, "serve", "--port", str(port)]),  # noqa: S603
        subprocess.Popen([*executable, "worker"]),  # noqa: S603
    ]
    if with_sandbox:
        sandbox_command = [*executable, "sandbox", "--port", str(sandbox_port)]
        children.append(subprocess.Popen(sandbox_command))  # noqa: S603
    typer.echo(f"API on http://127.0.0.1:{port} (docs at /docs); worker running. Ctrl-C stops.")
    if os.environ["GATEWAY_OPS__KEYS"] == DEV_OPS_KEY:
        typer.echo(f"Operations console: http://127.0.0.1:{port}/ops (key: {DEV_OPS_KEY}).")
    typer.echo(
        f"API key: dev-api-key. The whole flow, step by step: .venv/bin/directo-gateway demo "
        f"--api-url http://127.0.0.1:{port} --sandbox-url http://127.0.0.1:{sandbox_port}"
    )
    _supervise(children)


def _supervise(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait until a child exits or we are interrupted, then stop them all."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.3)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    codes = [child.returncode for child in children]
    raise typer.Exit(code=0 if stopping else max(abs(code or 0) for code in codes) or 1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
