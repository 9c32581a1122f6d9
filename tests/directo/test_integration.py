"""Client ↔ sandbox over real HTTP on loopback (uvicorn on a free port)."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.directo.capability_probe import Capability, CapabilityResult, probe_connection
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import (
    DirectoOutcomeUnknown,
    DirectoTimeout,
    DirectoTransportError,
    DirectoTruncatedError,
    DirectoUnauthorized,
    DirectoUpstreamError,
)
from app.directo.sandbox import Faults, SandboxState
from app.directo.sandbox.server import free_port
from app.directo.schemas import DirectoInvoiceInput, DirectoInvoiceRowInput, PutResultKind
from tests.directo.conftest import fast_settings

EE = DirectoCredentials("sandbox-token-ee")
INVOICE = DirectoInvoiceInput(
    number=20260042,
    customercode="K000002",
    customername="Järve Transport FIE",
    date=date(2025, 6, 20),
    duedate=date(2025, 7, 4),
    paymentterm="14",
    salesman="MARI",
    rows=(
        DirectoInvoiceRowInput(
            item="KONS",
            description="Nõustamine „erakorraline“ & muu",
            quantity=Decimal("1.5"),
            price=Decimal("60.00"),
            vatcode="24",
            object="TLN",
        ),
    ),
)


async def collect(batches: Any) -> list[Any]:
    return [record async for batch in batches for record in batch]


async def test_feeds_stream_in_batches(live_client: DirectoClient) -> None:
    sizes = [len(batch) async for batch in live_client.iter_customers(EE, batch_size=50)]
    assert sizes == [50, 50, 20]
    invoices = await collect(live_client.iter_invoices(EE, date1=date(2025, 6, 1)))
    assert invoices
    assert all(invoice.date >= date(2025, 6, 1) for invoice in invoices)
    assert len(await collect(live_client.iter_receipts(EE))) > 0
    assert len(await collect(live_client.iter_purchases(EE))) == 15
    assert len(await collect(live_client.iter_transactions(EE))) == 24


async def test_incremental_read_picks_up_a_changed_card(
    live_client: DirectoClient, live: SandboxState
) -> None:
    watermark = max(c.ts for c in await collect(live_client.iter_customers(EE)))
    at_watermark = await collect(live_client.iter_customers(EE, ts=watermark))
    assert at_watermark
    assert all(c.ts >= watermark.replace(second=0) for c in at_watermark)
    live.database("demo_ee").upsert_customer("K000010", {"name": "Õnnelik Ärimees OÜ"})
    changed = await collect(live_client.iter_customers(EE, ts=watermark))
    assert [(c.code, c.name) for c in changed if c.ts > watermark] == [
        ("K000010", "Õnnelik Ärimees OÜ")
    ]


async def test_put_then_read_back_then_duplicate(
    live_client: DirectoClient, live: SandboxState
) -> None:
    [created] = await live_client.put_invoices(EE, [INVOICE])
    assert (created.kind, created.docid) == (PutResultKind.CREATED, "20260042")
    [invoice] = await collect(live_client.iter_invoices(EE, number=20260042))
    assert invoice.rows[0].description == "Nõustamine „erakorraline“ & muu"
    assert (invoice.totalamount, invoice.balance) == (Decimal("111.60"), Decimal("111.60"))
    live.add_receipt("demo_ee", invoice="20260042", amount="11.60")
    [paid] = await collect(live_client.iter_invoices(EE, number=20260042))
    assert paid.balance == Decimal("100.00")
    assert paid.ts > invoice.ts
    [duplicate] = await live_client.put_invoices(EE, [INVOICE])
    assert duplicate.kind is PutResultKind.DUPLICATE


async def test_legacy_url_works_end_to_end(live_client: DirectoClient) -> None:
    legacy = DirectoCredentials("sandbox-token-lv", database_code="demo_lv")
    items = await collect(live_client.iter_items(legacy))
    assert len(items) == 15
    assert items[0].code == "GRAM"
    with pytest.raises(DirectoUnauthorized):
        await collect(
            live_client.iter_items(DirectoCredentials("sandbox-token-ee", database_code="demo_lv"))
        )


async def test_dropped_put_is_outcome_unknown_and_was_applied(
    live_client: DirectoClient, live: SandboxState
) -> None:
    live.database("demo_ee").set_faults(Faults(drop_rate=1.0))
    with pytest.raises(DirectoOutcomeUnknown, match="outcome unknown"):
        await live_client.put_invoices(EE, [INVOICE])
    assert len(live.requests) == 1  # never re-sent
    live.database("demo_ee").set_faults(Faults())
    [found] = await collect(live_client.iter_invoices(EE, number=20260042))  # look it up first
    assert found.number == "20260042"


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        (Faults(drop_rate=1.0), DirectoTransportError),
        (Faults(truncate_rate=1.0), DirectoTruncatedError),
        (Faults(error_rate=1.0), DirectoUpstreamError),
    ],
)
async def test_feed_faults_are_retried_then_classified(
    live_client: DirectoClient, live: SandboxState, faults: Faults, error: type[Exception]
) -> None:
    live.database("demo_ee").set_faults(faults)
    with pytest.raises(error) as caught:
        await collect(live_client.iter_items(EE))
    assert type(caught.value) is error
    assert len(live.requests) == 3


async def test_a_flaky_feed_recovers_within_max_attempts(
    live_client: DirectoClient, live: SandboxState
) -> None:
    live.database("demo_ee").set_faults(Faults(error_rate=0.5, seed=3))
    rolls = [live.database("demo_ee").roll_fault() for _ in range(3)]
    live.database("demo_ee").set_faults(Faults(error_rate=0.5, seed=3))
    assert rolls[0] == "error"
    assert None in rolls[1:]  # seed 3: first call fails
    assert len(await collect(live_client.iter_items(EE))) == 15
    assert [entry.outcome for entry in live.requests][:1] == ["fault: 503"]


async def test_slow_directo_times_out(live: SandboxState, live_url: str) -> None:
    live.database("demo_ee").set_faults(Faults(latency_ms=400))
    async with httpx.AsyncClient() as http:
        client = DirectoClient(
            http, fast_settings(live_url, feed_read_timeout=0.1, read_timeout=0.1, max_attempts=2)
        )
        with pytest.raises(DirectoTimeout):
            await collect(client.iter_items(EE))
        with pytest.raises(DirectoOutcomeUnknown):
            await client.put_invoices(EE, [INVOICE])
    assert len(live.requests) == 3  # two feed attempts, one put


async def test_nothing_listening_is_unavailable_after_retries() -> None:
    async with httpx.AsyncClient() as http:
        client = DirectoClient(http, fast_settings(f"http://127.0.0.1:{free_port()}"))
        with pytest.raises(DirectoTransportError) as caught:
            await collect(client.iter_customers(EE))
        assert caught.value.code == "directo_unavailable"
        with pytest.raises(DirectoTransportError):
            await client.put_invoices(EE, [INVOICE])


async def test_probe_reports_per_capability(live_client: DirectoClient) -> None:
    def summary(results: list[CapabilityResult]) -> list[tuple[str, bool, str | None]]:
        return [(r.capability.value, r.ok, r.code) for r in results]

    full = await probe_connection(live_client, EE)
    assert summary(full) == [(c.value, True, None) for c in Capability]
    assert all(r.latency_ms > 0 for r in full)
    cards = await probe_connection(live_client, DirectoCredentials("sandbox-token-ee-cards"))
    assert summary(cards) == [
        ("customers_out", True, None),
        ("articles_out", True, None),
        *((c.value, False, "feed_not_activated") for c in list(Capability)[2:]),
    ]
    assert "ask Directo to activate" in (cards[2].hint or "")
    revoked = await probe_connection(live_client, DirectoCredentials("sandbox-token-revoked"))
    assert summary(revoked) == [(c.value, False, "unauthorized") for c in Capability]
    missing = await probe_connection(live_client, DirectoCredentials(""))
    assert summary(missing) == [(c.value, False, "token_missing") for c in Capability]


async def test_probe_writes_nothing(live_client: DirectoClient, live: SandboxState) -> None:
    await probe_connection(live_client, EE)
    assert live.database("demo_ee").invoices == {}
    assert sorted(entry.outcome for entry in live.requests) == ["feed"] * 6 + ["put: 99"]


async def test_a_consumer_may_stop_early(live_client: DirectoClient) -> None:
    async with contextlib.aclosing(live_client.iter_customers(EE, batch_size=10)) as batches:
        first = await anext(batches)
    assert [c.code for c in first][:2] == ["K000001", "K000002"]
