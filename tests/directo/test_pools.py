"""`PoolPerConnection`: a pool per Directo connection named by the request, the shared pool
for the rest, pools closed once idle — and the gateway's client routing its calls so."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.config import Settings
from app.directo import feeds, pools
from app.directo.budget import budget_key
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.pools import POOL_KEY, PoolPerConnection
from app.resources import build_http_client


class Recorder:
    """Transports that answer 200 and remember which of them served what."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.closed: list[str] = []

    def transport(self, name: str) -> httpx.AsyncBaseTransport:
        recorder = self

        class Named(httpx.MockTransport):
            async def aclose(self) -> None:
                await asyncio.sleep(0.01)  # closing takes a moment: others run meanwhile
                recorder.closed.append(name)

        self.made.append(name)
        return Named(lambda request: httpx.Response(200, text=name))

    def numbered(self) -> httpx.AsyncBaseTransport:
        return self.transport(f"pool-{len(self.made)}")


async def get(http: httpx.AsyncClient, key: str | None) -> str:
    extensions = {POOL_KEY: key} if key is not None else None
    return (await http.get("http://directo.test/", extensions=extensions)).text


async def test_each_connection_has_its_own_pool_and_the_rest_share_one() -> None:
    recorder = Recorder()
    transport = PoolPerConnection(recorder.transport("shared"), recorder.numbered)
    async with httpx.AsyncClient(transport=transport) as http:
        served = [await get(http, key) for key in ("a", "b", "a", None, "b")]
        assert served == ["pool-1", "pool-2", "pool-1", "shared", "pool-2"]
        assert transport.keys == {"a", "b"}
    assert sorted(recorder.closed) == ["pool-1", "pool-2", "shared"]


@pytest.fixture
def sweeping(monkeypatch: pytest.MonkeyPatch) -> tuple[Recorder, PoolPerConnection]:
    """A transport that closes every idle pool whenever it makes a new one."""
    monkeypatch.setattr(pools, "_SWEEP_EVERY", 0.0)
    recorder = Recorder()
    transport = PoolPerConnection(recorder.transport("shared"), recorder.numbered, idle_seconds=0)
    return recorder, transport


async def test_pools_idle_for_long_are_closed_when_a_new_one_is_made(
    sweeping: tuple[Recorder, PoolPerConnection],
) -> None:
    recorder, transport = sweeping
    async with httpx.AsyncClient(transport=transport) as http:
        async with http.stream("GET", "http://directo.test/", extensions={POOL_KEY: "a"}):
            await get(http, "b")  # "a" is streaming: kept
            assert recorder.closed == []
        await get(http, "c")  # "a" and "b" idle now: closed
        assert sorted(recorder.closed) == ["pool-1", "pool-2"]
        assert transport.keys == {"c"}
        assert await get(http, "a") == "pool-4"  # a new pool when it is used again


async def test_first_requests_of_a_connection_share_one_pool_while_idle_ones_close(
    sweeping: tuple[Recorder, PoolPerConnection],
) -> None:
    recorder, transport = sweeping
    async with httpx.AsyncClient(transport=transport) as http:
        await get(http, "old")  # pool-1, idle from now on
        served = await asyncio.gather(*(get(http, "new") for _ in range(3)))
        assert served == ["pool-2"] * 3  # one pool, though pool-1 was closing meanwhile
        assert recorder.closed == ["pool-1"]
        assert transport.keys == {"new"}


async def test_the_gateways_client_reads_each_connection_through_its_own_pool(
    settings: Settings,
) -> None:
    directo = settings.directo  # the session's sandbox, over loopback
    http = build_http_client(settings)
    transport = http._transport  # the client's own transport is what is checked
    assert isinstance(transport, PoolPerConnection)
    client = DirectoClient(http, directo)
    tokens = ("sandbox-token-ee", "sandbox-token-lv")
    try:
        for token in (*tokens, tokens[0]):
            async for _ in client.iter_feed(DirectoCredentials(token), feeds.CUSTOMERS):
                pass
        assert transport.keys == {
            budget_key(client.endpoint(DirectoCredentials(t)), t) for t in tokens
        }
    finally:
        await http.aclose()
