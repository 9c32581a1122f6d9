"""No plaintext token or webhook secret in a database dump or in the logs."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest
from httpx import AsyncClient
from sqlalchemy.engine import make_url

from app.directo.sandbox import SandboxState
from app.resources import Resources
from tests.helpers import run_worker_burst

TOKEN = "sandbox-token-ee"


def dump_database(url: str) -> str:
    parsed = make_url(url)
    result = subprocess.run(
        [
            "pg_dump",
            "-h",
            parsed.host or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
            parsed.database or "",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump")
async def test_dump_and_logs_hold_no_token_or_webhook_secret(
    client: AsyncClient,
    db: Resources,
    sandbox: SandboxState,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.put("/v1/companies/firm-1/directo", json={})
    connected = await client.put(
        "/v1/companies/firm-1/directo/connection", json={"token": f" {TOKEN} "}
    )
    assert connected.status_code == 201
    await client.post("/v1/companies/firm-1/directo/connection/test")
    endpoint = await client.post(
        "/v1/companies/firm-1/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"}
    )
    webhook_secret = endpoint.json()["secret"]
    await run_worker_burst(db.settings)
    sandbox.revoke_token(TOKEN)
    await client.post("/v1/companies/firm-1/directo/connection/test")  # a failing call logs too

    dump = dump_database(db.settings.database.url)
    assert "directo_customers" in dump  # the dump is real
    for secret in (TOKEN, webhook_secret, webhook_secret.removeprefix("whsec_")):
        assert secret not in dump
        assert secret.encode().hex() not in dump
        assert secret not in caplog.text
    captured = capfd.readouterr()
    assert TOKEN not in captured.out + captured.err
    assert webhook_secret not in captured.out + captured.err
