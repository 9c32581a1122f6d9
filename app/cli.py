"""`directo-gateway`: run the API, the worker, migrations, or everything at once (`dev`).

Each command imports what it runs inside its own body: `healthcheck` (the Docker
HEALTHCHECK, every 30 s) and `migrate` start without loading the app, the worker and the
ORM. No import here dodges a cycle: the CLI is the top of the layers (`.importlinter`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
import uvicorn
import yaml

from app.config import get_settings

cli = typer.Typer(help="Directo sync gateway", no_args_is_help=True, add_completion=False)

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "openapi.yaml"


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
    """Run the HTTP API."""
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
    )


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
) -> None:
    """Migrate, then run the API and a worker together (the newcomer's one command).

    Unless GATEWAY_DIRECTO__BASE_URL is set, the Directo sandbox runs too and the gateway
    talks to it, so the whole flow works without a Directo account.
    """
    os.environ.setdefault("GATEWAY_LOG__FORMAT", "console")
    os.environ.setdefault("GATEWAY_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
    os.environ.setdefault("GATEWAY_WEBHOOKS__ALLOW_HTTP", "true")
    with_sandbox = "GATEWAY_DIRECTO__BASE_URL" not in os.environ
    if with_sandbox:
        os.environ["GATEWAY_DIRECTO__BASE_URL"] = f"http://127.0.0.1:{sandbox_port}"
        # The sandbox answers at once; production's 60 s between retries would only stall demos.
        os.environ.setdefault("GATEWAY_DIRECTO__RETRY_BASE_DELAY", "2")
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
