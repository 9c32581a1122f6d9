"""Key rotation re-seals every stored secret; afterwards the old key can go, and the
README's procedure keeps every replica ready through each of its rolling deploys. A replica
that lacks the new key says so (503 `encryption_key_missing`, not ready) instead of failing
obscurely, and `rotate-keys` fails in one line, changing nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import select

from app.connections.capabilities import configured_needs
from app.connections.service import credentials_of, retest
from app.db.models import CallbackSecret, Connection, WebhookEndpoint
from app.directo.sandbox import SandboxState
from app.main import create_app
from app.resources import Resources
from app.security.coverage import CACHE_SECONDS, KeyCoverage
from app.security.crypto import SecretBox
from app.security.rotation import rotate_secrets
from app.statistics.compute import feeds_of_mapping
from app.webhooks import service as webhook_service
from tests.support.helpers import problem_of, run_worker_burst
from tests.support.keys import NEW_KEY, OLD_KEY, api_client, keys_env, with_keys

TOKEN = "sandbox-token-ee"
COMPANY = "/v1/companies/firm-1"


async def connect(client: AsyncClient) -> dict[str, Any]:
    assert (await client.put(f"{COMPANY}/directo", json={})).status_code in (200, 201)
    response = await client.put(f"{COMPANY}/directo/connection", json={"token": TOKEN})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def rotate_keys_cli(db: Resources, *keys: SecretStr) -> subprocess.CompletedProcess[str]:
    """`directo-gateway rotate-keys` in its own process, on this session's database."""
    env = {
        **os.environ,
        "GATEWAY_DATABASE__URL": db.settings.database.url,
        "GATEWAY_REDIS__URL": db.settings.redis.url,
        "GATEWAY_REDIS__QUEUE_NAME": db.settings.redis.queue_name,
        "GATEWAY_ENCRYPTION__KEYS": keys_env(*keys),
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "rotate-keys"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def stored_key_ids(db: Resources) -> set[str]:
    async with db.sessionmaker() as session:
        return {
            *await session.scalars(select(Connection.token_key_id)),
            *await session.scalars(select(WebhookEndpoint.secret_key_id)),
            *await session.scalars(select(CallbackSecret.secret_key_id)),
        }


@pytest.mark.slow
async def test_rotation_round_trips_and_the_old_key_can_be_dropped(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connect(client)
    endpoint = (
        await client.post(f"{COMPANY}/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"})
    ).json()
    callback_secret = (await client.post(f"{COMPANY}/callback-secret/reveal")).json()["secret"]
    old_keys = db.settings.encryption.keys

    rotating = SecretBox([NEW_KEY, *old_keys])
    async with db.sessionmaker() as session, session.begin():
        report = await rotate_secrets(session, rotating)
    assert report == {"connections": 1, "webhook_endpoints": 1, "callback_secrets": 1}
    async with db.sessionmaker() as session, session.begin():
        assert await rotate_secrets(session, rotating) == {}  # idempotent

    new_only = SecretBox([NEW_KEY])
    async with db.sessionmaker() as session:
        connection = await session.scalar(select(Connection))
        stored_endpoint = await session.scalar(select(WebhookEndpoint))
        callback = await session.scalar(select(CallbackSecret))
    assert connection is not None
    assert stored_endpoint is not None
    assert callback is not None
    assert await stored_key_ids(db) == {"k-new"}
    assert credentials_of(connection, new_only).token == TOKEN
    assert webhook_service.endpoint_secret(stored_endpoint, new_only) == endpoint["secret"]
    assert webhook_service.open_callback_secret(callback, new_only) == callback_secret

    # The service keeps working with only the new key configured.
    rotated = dataclasses.replace(db, secrets=new_only)
    async with rotated.sessionmaker() as session, session.begin():
        needs = await configured_needs(
            session, company_id="firm-1", client_id=None, statistics_feeds=feeds_of_mapping
        )
        _, test = await retest(
            session,
            company_id="firm-1",
            client_id=None,
            needs=needs,
            directo=rotated.directo,
            secrets=new_only,
        )
    assert test.ok is True


@pytest.mark.slow
async def test_a_replica_without_the_new_key_answers_503_and_is_not_ready(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    await connect(client)
    await client.post(f"{COMPANY}/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"})
    async with api_client(db.settings) as before:
        assert (await before.get("/readyz")).status_code == 200

    # Step 3 of the procedure, run too early: `client` is a replica still on the old key.
    rotated = await rotate_keys_cli(db, NEW_KEY, OLD_KEY)
    assert (rotated.returncode, rotated.stderr) == (0, "")
    assert rotated.stdout == (
        "re-encrypted under key 'k-new': 1 connection tokens, 1 webhook secrets, "
        "0 callback secrets; every stored secret is now under 'k-new'\n"
    )

    detail = (
        "a stored secret is sealed under encryption key 'k-new', which this process is not "
        "configured with"
    )
    test = await client.post(f"{COMPANY}/directo/connection/test")
    assert test.status_code == 503
    assert test.headers["content-type"] == "application/problem+json"
    assert problem_of(test) == {
        "type": "urn:directo-gateway:problem:encryption_key_missing",
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
        "code": "encryption_key_missing",
        "errors": [
            {
                "code": "encryption_key_missing",
                "message": detail,
                "loc": [],
                "fix": "Add the key with id 'k-new' to GATEWAY_ENCRYPTION__KEYS of every API "
                "and worker process (README: Rotating the encryption key).",
                "context": {"key_id": "k-new"},
            }
        ],
    }
    assert TOKEN not in test.text
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["code"] == "not_ready"
    assert ready.json()["errors"] == [
        {
            "code": "encryption_key_missing",
            "message": "stored secrets are sealed under key ids this process is not "
            "configured with: 'k-new'",
            "loc": ["encryption_keys"],
            "fix": "Add those keys to GATEWAY_ENCRYPTION__KEYS (README: Rotating the "
            "encryption key).",
            "context": {"key_ids": ["k-new"]},
        }
    ]

    # Given the new key (and, at the end of the procedure, only the new key), it is whole.
    for keys in ([NEW_KEY, OLD_KEY], [NEW_KEY]):
        async with api_client(with_keys(db.settings, *keys)) as configured:
            ready = await configured.get("/readyz")
            assert ready.json() == {
                "status": "ready",
                "checks": {"postgres": "ok", "redis": "ok", "encryption_keys": "ok"},
            }
            test = await configured.post(f"{COMPANY}/directo/connection/test")
            assert (test.status_code, test.json()["test"]["ok"]) == (200, True)


@pytest.mark.slow
async def test_a_job_needing_the_token_fails_with_encryption_key_missing(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    job_id = (await connect(client))["import_job"]["id"]
    async with db.sessionmaker() as session, session.begin():
        await rotate_secrets(session, SecretBox([NEW_KEY, OLD_KEY]))

    await run_worker_burst(db.settings)  # a worker still on the old key only

    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "failed"
    # Retried (another worker may have had the key), each attempt recording why.
    assert job["attempts"] > 1
    assert [(error["code"], error["detail"]) for error in job["errors"]] == [
        (
            "encryption_key_missing",
            "a stored secret is sealed under encryption key 'k-new', which this process is "
            "not configured with",
        )
    ] * job["attempts"]


@pytest.mark.slow
async def test_rotate_keys_fails_in_one_line_and_changes_nothing(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    connection_id = (await connect(client))["connection"]["id"]
    endpoint = (
        await client.post(f"{COMPANY}/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"})
    ).json()
    newer = SecretStr("k-newer:" + "A" * 43)

    without_old_key = await rotate_keys_cli(db, newer, NEW_KEY)
    assert (without_old_key.returncode, without_old_key.stdout) == (1, "")
    assert without_old_key.stderr == (
        f"rotate-keys failed: encryption_key_missing: connection {connection_id} is sealed "
        "under key 'dev', which is not configured; keep every old key in "
        "GATEWAY_ENCRYPTION__KEYS (after the new one) until rotate-keys succeeds; nothing "
        "was re-encrypted\n"
    )

    async with db.sessionmaker() as session, session.begin():
        stored = await session.get_one(WebhookEndpoint, uuid.UUID(endpoint["id"]))
        stored.secret_encrypted = stored.secret_encrypted[:-1] + bytes(
            [stored.secret_encrypted[-1] ^ 1]
        )
    damaged = await rotate_keys_cli(db, NEW_KEY, OLD_KEY)
    assert damaged.returncode == 1
    assert damaged.stderr.splitlines() == [
        f"rotate-keys failed: secret_undecryptable: webhook endpoint {endpoint['id']} failed "
        "to decrypt (altered or copied ciphertext); replace that secret (store the token "
        "again, or recreate the endpoint / rotate the callback secret), then run rotate-keys "
        "again; nothing was re-encrypted"
    ]
    assert await stored_key_ids(db) == {"dev"}  # the connection, resealed first, rolled back

    bad_key = await rotate_keys_cli(db, SecretStr("k-new:c2hvcnQ="), OLD_KEY)
    assert bad_key.returncode == 1
    assert bad_key.stderr.splitlines() == [
        "rotate-keys failed: invalid settings: encryption.keys: Value error, encryption key "
        "'k-new' must decode to 32 bytes; nothing was re-encrypted"
    ]
    assert "c2hvcnQ" not in bad_key.stderr


async def test_readiness_reads_the_stored_key_ids_at_most_once_per_interval(db: Resources) -> None:
    clock = [0.0]
    coverage = KeyCoverage(SecretBox([OLD_KEY]), clock=lambda: clock[0])
    assert await coverage.missing(db.sessionmaker) == []
    async with db.sessionmaker() as session, session.begin():
        await webhook_service.create_endpoint(
            session,
            company_id="firm-1",
            url="http://127.0.0.1:9/x",
            event_types=[],
            description=None,
            settings=db.settings.webhooks,
            secrets=SecretBox([NEW_KEY]),
        )
    clock[0] = CACHE_SECONDS - 0.1
    assert await coverage.missing(db.sessionmaker) == []  # the cached answer
    clock[0] = CACHE_SECONDS
    assert await coverage.missing(db.sessionmaker) == ["k-new"]


async def test_the_app_builds_its_key_coverage_with_the_app(db: Resources) -> None:
    """`create_app` builds readiness's key coverage from its settings, as it builds the
    cursors: the probes share that one object (and its cache); no probe builds state."""
    app = create_app(with_keys(db.settings, NEW_KEY))
    coverage = app.state.key_coverage
    assert isinstance(coverage, KeyCoverage)
    async with db.sessionmaker() as session, session.begin():
        await webhook_service.create_endpoint(
            session,
            company_id="firm-1",
            url="http://127.0.0.1:9/x",
            event_types=[],
            description=None,
            settings=db.settings.webhooks,
            secrets=SecretBox([OLD_KEY]),
        )
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app), base_url="http://replica.test"
        ) as http,
    ):
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert [item["context"] for item in ready.json()["errors"]] == [{"key_ids": ["dev"]}]
    assert app.state.key_coverage is coverage


README = Path(__file__).resolve().parents[2] / "README.md"
KEYS_BY_NAME = {"k1": OLD_KEY, "k2": NEW_KEY}


def documented_rings() -> list[list[str]]:
    """The key rings README's rotation procedure deploys, in order (key names only)."""
    text = README.read_text()
    start = text.index("### Rotating the encryption key")
    section = text[start : text.index("\n## ", start)]
    return [
        [key.partition(":")[0] for key in ring.split(",")]
        for ring in re.findall(r"GATEWAY_ENCRYPTION__KEYS=([^`]+)`", section)
    ]


@pytest.mark.slow
async def test_the_documented_rotation_keeps_every_replica_ready_through_each_deploy(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    """Each deploy of the README's procedure is rolling: replicas on the previous ring and on
    the next serve side by side. Whatever the new ones seal, the old ones must open, so no
    replica goes unready and no request fails for a key at any step."""
    rings = [["k1"], *documented_rings()]
    assert rings[-1] == ["k2"]
    await connect(client)  # sealed under k1
    for old, new in itertools.pairwise(rings):
        if set(old) - set(new):  # dropping a key: `rotate-keys` ran first, on the old ring
            rotated = await rotate_keys_cli(db, *(KEYS_BY_NAME[name] for name in old))
            assert (rotated.returncode, rotated.stderr) == (0, ""), (old, new)
        async with (
            api_client(with_keys(db.settings, *(KEYS_BY_NAME[name] for name in old))) as before,
            api_client(with_keys(db.settings, *(KEYS_BY_NAME[name] for name in new))) as after,
        ):
            stored = await after.put(f"{COMPANY}/directo/connection", json={"token": TOKEN})
            assert stored.status_code == 200, (old, new, stored.text)
            for replica in (before, after):
                ready = await replica.get("/readyz")
                assert ready.status_code == 200, (old, new, ready.text)
                test = await replica.post(f"{COMPANY}/directo/connection/test")
                assert (test.status_code, test.json()["test"]["ok"]) == (200, True), (old, new)
    assert await stored_key_ids(db) == {"k-new"}


async def test_a_damaged_stored_token_is_a_clear_409_and_a_failed_job_not_a_crash(
    client: AsyncClient, db: Resources, sandbox: SandboxState
) -> None:
    job_id = (await connect(client))["import_job"]["id"]
    async with db.sessionmaker() as session, session.begin():
        connection = (await session.scalars(select(Connection))).one()
        damaged = bytearray(connection.token_encrypted)
        damaged[-1] ^= 0xFF  # one bit of the ciphertext's tag
        connection.token_encrypted = bytes(damaged)

    tested = await client.post(f"{COMPANY}/directo/connection/test")
    assert tested.status_code == 409, tested.text
    assert problem_of(tested)["code"] == "stored_secret_unreadable"
    assert TOKEN not in tested.text

    await run_worker_burst(db.settings)
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    # Not retried (damage does not heal), recorded with its code, not as a crash.
    assert (job["status"], job["attempts"]) == ("failed", 1)
    assert [error["code"] for error in job["errors"]] == ["stored_secret_unreadable"]

    again = await client.put(f"{COMPANY}/directo/connection", json={"token": TOKEN})
    assert again.status_code == 200, again.text
    assert (await client.post(f"{COMPANY}/directo/connection/test")).status_code == 200
