"""No token or webhook secret in a database dump, in any row, in Redis or in the logs."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import LogSettings, Settings
from app.directo.sandbox import SandboxState
from app.resources import Resources
from app.webhooks.delivery import deliver_due
from app.webhooks.outbox import emit
from app.webhooks.types import EventType
from app.webhooks.verify import verify_webhook
from tests.support.helpers import run_worker_burst
from tests.support.keys import NEW_KEY, OLD_KEY, api_client, with_keys
from tests.support.receiver import running_receiver

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


@pytest.mark.slow
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


def encodings(secret: str) -> set[str]:
    """Every form a careless write could leave a secret in: as is, hex, base64 (both
    alphabets), and for a `whsec_` secret also its bare key, and the key's bytes in hex (a
    bytea column) and base64."""
    forms = {secret, secret.encode().hex()}
    forms |= {base64.b64encode(secret.encode()).decode().rstrip("=")}
    forms |= {base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")}
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        forms |= {secret.removeprefix("whsec_"), key.hex()}
        forms |= {base64.urlsafe_b64encode(key).decode().rstrip("=")}
    return forms


async def every_row_as_text(db: Resources) -> str:
    """Each row of each table in the schema, cast to text (bytea shows as hex): what the
    database holds, without relying on pg_dump, and including tables added later."""
    async with db.engine.connect() as connection:
        tables = (
            await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        ).scalars()
        rows: list[str] = []
        for table in list(tables):
            quoted = connection.dialect.identifier_preparer.quote(table)
            # The names come from pg_tables, not from input.
            result = await connection.execute(text(f"SELECT t::text FROM {quoted} t"))  # noqa: S608
            rows.extend(f"{table}: {row}" for row in result.scalars())
    return "\n".join(rows)


async def queue_contents(settings: Settings) -> bytes:
    """Every value under the session's queue keys in Redis (job payloads, results …)."""
    redis = Redis.from_url(settings.redis.url)
    parts: list[bytes] = []
    try:
        async for key in redis.scan_iter(match=f"*{settings.redis.queue_name}*"):
            kind = (await redis.type(key)).decode()
            if kind == "string":
                parts.append(await redis.get(key) or b"")
            elif kind == "zset":
                parts.extend(await redis.zrange(key, 0, -1))
            elif kind == "hash":
                parts.extend(b"%s=%s" % pair for pair in (await redis.hgetall(key)).items())
            elif kind == "list":
                parts.extend(await redis.lrange(key, 0, -1))
            elif kind == "set":
                parts.extend(await redis.smembers(key))
            parts.append(key)
    finally:
        await redis.aclose()
    return b"\n".join(parts)


@pytest.mark.slow
async def test_no_secret_in_any_row_the_queue_or_the_logs_after_the_whole_flow(
    client: AsyncClient,
    db: Resources,
    sandbox: SandboxState,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A company token, a client's own token, a webhook secret and the callback secret, all
    used for real: imports run with both tokens, a webhook and a callback are delivered
    and verify with their secrets. None of them may be found in any form in a row of any
    table, in Redis (before and after the worker ran) or in any log line (JSON, DEBUG)."""
    caplog.set_level(logging.DEBUG)
    client_token = "sandbox-token-lv"
    async with running_receiver() as receiver:
        await client.put("/v1/companies/firm-1/directo", json={})
        endpoint = await client.post(
            "/v1/companies/firm-1/webhook-endpoints", json={"url": receiver.url("/hook")}
        )
        webhook_secret = endpoint.json()["secret"]
        callback_secret = (await client.post("/v1/companies/firm-1/callback-secret/reveal")).json()[
            "secret"
        ]
        for path, token in [
            ("/v1/companies/firm-1/directo/connection", TOKEN),
            ("/v1/companies/firm-1/clients/c-1/directo/connection", client_token),
        ]:
            connected = await client.put(path, json={"token": token})
            assert connected.status_code == 201, connected.text
        queued = await queue_contents(db.settings)
        assert b"customers_import" in queued  # the queue really holds the jobs

        debug = db.settings.model_copy(update={"log": LogSettings(format="json", level="DEBUG")})
        await run_worker_burst(debug)
        # After the customer imports: two imports of one connection at once can deadlock.
        articles = await client.post(
            "/v1/companies/firm-1/directo/imports",
            json={"feed": "articles", "full": True, "callback_url": receiver.url("/cb")},
        )
        assert articles.status_code == 202, articles.text
        queued += await queue_contents(db.settings)
        await run_worker_burst(debug)
        while await deliver_due(db):  # whatever the worker's delivery tick left due
            pass
        sandbox.revoke_token(client_token)  # a refused token takes the error paths too
        await client.post("/v1/companies/firm-1/clients/c-1/directo/connection/test")

    hooks = [request for request in receiver.requests if request.path == "/hook"]
    callbacks = [request for request in receiver.requests if request.path == "/cb"]
    assert len(hooks) >= 3  # two customer imports and an article import were announced
    assert len(callbacks) == 1
    verify_webhook(webhook_secret, hooks[0].headers, hooks[0].body)
    verify_webhook(callback_secret, callbacks[0].headers, callbacks[0].body)

    rows = await every_row_as_text(db)
    assert "directo_customers" in rows
    assert "connections: (" in rows
    assert "\\x" in rows  # bytea (the sealed tokens and secrets) is read, as hex
    queue = queued + await queue_contents(db.settings)
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    assert '"level": "debug"' in logs  # the worker logged as production does, and verbosely
    for secret in (TOKEN, client_token, webhook_secret, callback_secret):
        for form in encodings(secret):
            assert form not in rows, f"{secret[:6]}… is in the database as {form[:12]}…"
            assert form.encode() not in queue, f"{secret[:6]}… is in Redis"
            assert form not in logs, f"{secret[:6]}… is in the logs"


@pytest.mark.slow
async def test_a_missing_encryption_key_is_named_without_the_secret(
    client: AsyncClient,
    db: Resources,
    sandbox: SandboxState,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The answers, job errors, delivery errors and logs of a process that lacks the key a
    secret is sealed with name the key id only."""
    caplog.set_level(logging.DEBUG)
    await client.put("/v1/companies/firm-1/directo", json={})
    async with running_receiver() as receiver:
        async with api_client(with_keys(db.settings, NEW_KEY, OLD_KEY)) as rotated:
            connected = await rotated.put(
                "/v1/companies/firm-1/directo/connection", json={"token": TOKEN}
            )
            assert connected.status_code == 201, connected.text
            endpoint = await rotated.post(
                "/v1/companies/firm-1/webhook-endpoints", json={"url": receiver.url("/hook")}
            )
            webhook_secret = endpoint.json()["secret"]
        async with db.sessionmaker() as session, session.begin():
            await emit(session, company_id="firm-1", type_=EventType.JOB_FINISHED, payload={})
        # `client`, `db` and the worker hold the old key only.
        answers = [
            await client.post("/v1/companies/firm-1/directo/connection/test"),
            await client.get("/readyz"),
        ]
        await run_worker_burst(db.settings)  # the import job and the delivery tick
        job = await client.get(f"/v1/jobs/{connected.json()['import_job']['id']}")
        deliveries = await client.get(
            f"/v1/companies/firm-1/webhook-endpoints/{endpoint.json()['id']}/deliveries"
        )
    assert [answer.status_code for answer in answers] == [503, 503]
    assert job.json()["errors"][-1]["code"] == "encryption_key_missing"
    assert deliveries.json()["items"][0]["last_error"].startswith("encryption_key_missing: ")
    assert receiver.requests == []

    said = "\n".join(answer.text for answer in [*answers, job, deliveries])
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    assert "k-new" in said
    assert "k-new" in logs
    for secret in (TOKEN, webhook_secret):
        for form in encodings(secret):
            assert form not in said, f"{secret[:6]}… is in an answer"
            assert form not in logs, f"{secret[:6]}… is in the logs"
