"""`CallGate` and the client behind it: never more calls on the wire than the process's
connections, a put handed the next free connection before queued bulk reads, and waiters
that are cancelled leave their permits where they belong."""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import aclosing

import httpx
import pytest
import respx

from app.directo import feeds
from app.directo.budget import Priority
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.gate import CallGate
from app.directo.schemas import DirectoInvoiceInput
from tests.directo.conftest import BASE_URL, fast_settings

URL = f"{BASE_URL}/xmlcore/cap_xml_direct/xmlcore.asp"
CUSTOMERS = b'<transport><customers><customer code="K1" name="A"/></customers></transport>'
PUT_OK = b'<results><Result Type="30" Desc="Created" docid="7" doctype="ARVE"/></results>'


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_the_gate_serves_interactive_waiters_before_bulk_ones() -> None:
    gate = CallGate(1)
    await gate.acquire(Priority.BULK)
    order: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        await gate.acquire(priority)
        order.append(name)

    waiters = [
        asyncio.create_task(take("bulk-1", Priority.BULK)),
        asyncio.create_task(take("bulk-2", Priority.BULK)),
    ]
    await settle()
    waiters.append(asyncio.create_task(take("put", Priority.INTERACTIVE)))
    await settle()
    assert (order, gate.waiting) == ([], 3)
    for _ in range(3):
        gate.release()
        await settle()
    assert order == ["put", "bulk-1", "bulk-2"]
    await asyncio.gather(*waiters)


async def test_a_cancelled_waiter_keeps_no_place_and_loses_no_permit() -> None:
    gate = CallGate(1)
    await gate.acquire(Priority.BULK)
    queued = asyncio.create_task(gate.acquire(Priority.BULK))
    await settle()
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert gate.waiting == 0

    # Handed the permit and cancelled before it ran: the permit goes on, not lost.
    handed = asyncio.create_task(gate.acquire(Priority.BULK))
    await settle()
    gate.release()
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await asyncio.wait_for(gate.acquire(Priority.INTERACTIVE), timeout=1)


def test_a_gate_needs_a_permit() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CallGate(0)


@respx.mock
async def test_the_client_puts_no_more_calls_on_the_wire_than_its_connections() -> None:
    in_flight, most = 0, 0
    release = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await release.wait()
            body = PUT_OK if request.url.params.get("put") else CUSTOMERS
            return httpx.Response(200, content=body)
        finally:
            in_flight -= 1

    respx.post(URL).mock(side_effect=answer)
    served: list[str] = []
    async with httpx.AsyncClient() as http:
        client = DirectoClient(http, fast_settings(max_connections_per_process=2))
        creds = DirectoCredentials("token-a")

        async def read(n: int) -> None:
            async with aclosing(client.iter_feed(creds, feeds.CUSTOMERS)) as batches:
                async for _ in batches:
                    pass
            served.append(f"read-{n}")

        async def put() -> None:
            invoice = DirectoInvoiceInput(number=7, customercode="K1", date=dt.date(2026, 11, 30))
            await client.put_invoices(creds, [invoice])
            served.append("put")

        reads = [asyncio.create_task(read(n)) for n in range(6)]
        await settle()
        late_put = asyncio.create_task(put())
        await settle()
        assert in_flight == 2  # two on the wire, five waiting in the process (not in httpx)
        release.set()
        await asyncio.gather(*reads, late_put)
    assert most == 2
    # The put, asked for after all six reads, was among the first calls to get a connection.
    assert served.index("put") <= 3, served
