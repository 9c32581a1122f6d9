"""The sandbox's count of calls in flight per token ends every call — answered, dropped
mid-body, or abandoned by a client that hung up — so a maximum read after `calls.clear()`
is never inflated by an earlier test's broken calls."""

from __future__ import annotations

import httpx
import pytest

from app.directo.sandbox import Faults, SandboxState
from app.directo.sandbox.state import token_fingerprint
from tests.support.waiting import wait_until

TOKEN = "sandbox-token-ee"


def in_flight(sandbox: SandboxState) -> int:
    return int(sandbox.calls.as_json().get(token_fingerprint(TOKEN), {}).get("in_flight", 0))


async def read_customers(url: str, *, give_up_after: float = 10) -> None:
    async with httpx.AsyncClient(timeout=give_up_after) as http:
        await http.post(
            f"{url}/xmlcore/cap_xml_direct/xmlcore.asp",
            data={"token": TOKEN, "get": "1", "what": "customer"},
        )


async def test_a_dropped_answer_and_a_client_that_hangs_up_end_their_calls(
    sandbox: SandboxState, sandbox_server: tuple[SandboxState, str]
) -> None:
    _, url = sandbox_server
    sandbox.database("demo_ee").set_faults(Faults(drop_rate=1.0))
    with pytest.raises(httpx.HTTPError):
        await read_customers(url)
    await wait_until(lambda: in_flight(sandbox) == 0, what="the dropped call to end", within=10)

    sandbox.database("demo_ee").set_faults(Faults(latency_ms=500))
    with pytest.raises(httpx.ReadTimeout):
        await read_customers(url, give_up_after=0.1)  # hangs up while the sandbox still waits
    await wait_until(lambda: in_flight(sandbox) == 0, what="the abandoned call to end", within=10)

    sandbox.calls.clear()
    sandbox.database("demo_ee").set_faults(Faults())
    await read_customers(url)
    assert sandbox.max_concurrent_calls(TOKEN) == 1
