"""Migration 0004 claims the numbers of the exports that exist when it runs as the runtime
rule would: per number, the export Directo most likely holds (sent, then sending, then
failed with its put in doubt, then queued; the oldest first), and an export whose put may
have reached Directo (failed `outcome_unknown`) keeps its number."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.admin import alembic_config, drop_database, ensure_database
from tests.conftest import POSTGRES_URL

CONNECTION = uuid.uuid4()
T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)

# (Uku number, Directo number, status, error code, attempts, minutes after T0)
EXPORTS = [
    ("Q-100", 100, "queued", None, 0, 0),
    ("S-100", 100, "sent", None, 1, 5),  # newer, but Directo holds it
    ("F-200", 200, "failed", "outcome_unknown", 5, 0),
    ("Q-200", 200, "queued", None, 0, 5),
    ("F-300", 300, "failed", "outcome_unknown", 3, 0),  # alone: still claimed
    ("V-400", 400, "failed", "vat_code_unknown", 1, 0),  # Directo refused it: free
    ("Q-500", 500, "queued", None, 0, 0),
    ("SG-500", 500, "sending", None, 1, 5),
    ("S-600", 600, "sent", None, 1, 0),
    ("S2-600", 600, "sent", None, 1, 5),  # two sent: the oldest
]


@pytest.fixture
async def scratch_url() -> AsyncIterator[str]:
    url = f"{POSTGRES_URL}/gw_backfill_{uuid.uuid4().hex[:10]}"
    await ensure_database(url)
    yield url
    await drop_database(url)


Statement = tuple[str, dict[str, object]]


async def _execute(url: str, *statements: Statement) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            rows: list[tuple[object, ...]] = []
            for sql, params in statements:
                result = await connection.execute(text(sql), params)
                if result.returns_rows:
                    rows = [tuple(row) for row in result]
            return rows
    finally:
        await engine.dispose()


def _seed() -> list[Statement]:
    statements: list[Statement] = [
        (
            "INSERT INTO connections (id, company_id, scope, token_encrypted, token_key_id, "
            "token_hint, health) VALUES (:id, 'firm', 'company', '\\x00', 'k1', '…abcd', 'ok')",
            {"id": CONNECTION},
        )
    ]
    for uku, number, status, error_code, attempts, minutes in EXPORTS:
        statements.append(
            (
                "INSERT INTO invoice_exports (id, company_id, client_id, connection_id, "
                "idempotency_key, request_hash, request_body, uku_invoice_number, "
                "directo_number, customer_code, currency, net_total, status, confirmed, "
                "error_code, errors, attempts, created_at) VALUES (:id, 'firm', 'c1', :conn, "
                ":key, :hash, '{}', :uku, :number, 'K1', 'EUR', 10, :status, false, "
                ":error_code, '[]', :attempts, :created_at)",
                {
                    "id": uuid.uuid4(),
                    "conn": CONNECTION,
                    "key": f"key-{uku}",
                    "hash": "0" * 64,
                    "uku": uku,
                    "number": number,
                    "status": status,
                    "error_code": error_code,
                    "attempts": attempts,
                    "created_at": T0 + dt.timedelta(minutes=minutes),
                },
            )
        )
    return statements


@pytest.mark.slow
async def test_the_backfill_claims_what_directo_most_likely_holds(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    await asyncio.to_thread(command.upgrade, config, "0003")
    await _execute(scratch_url, *_seed())
    await asyncio.to_thread(command.upgrade, config, "0004")

    claims = await _execute(
        scratch_url,
        (
            "SELECT c.directo_number, c.uku_invoice_number, e.uku_invoice_number "
            "FROM invoice_number_claims c JOIN invoice_exports e ON e.id = c.export_id "
            "ORDER BY c.directo_number",
            {},
        ),
    )
    assert claims == [
        (100, "S-100", "S-100"),
        (200, "F-200", "F-200"),
        (300, "F-300", "F-300"),
        (500, "SG-500", "SG-500"),
        (600, "S-600", "S-600"),
    ]
    in_doubt = await _execute(
        scratch_url,
        (
            "SELECT uku_invoice_number FROM invoice_exports WHERE put_in_doubt "
            "ORDER BY uku_invoice_number",
            {},
        ),
    )
    assert in_doubt == [("F-200",), ("F-300",), ("SG-500",)]

    await asyncio.to_thread(command.downgrade, config, "0003")
    columns = await _execute(
        scratch_url,
        (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'invoice_exports' AND column_name = 'put_in_doubt'",
            {},
        ),
    )
    assert columns == []
