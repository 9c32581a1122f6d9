"""Running a connection test: the Directo capability probe, summarised for people."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.probe import Capability, CapabilityResult, probe_connection


@dataclass(frozen=True, slots=True)
class ConnectionTest:
    """The verdict: `ok` when the token can read customers (what connecting needs)."""

    ok: bool
    code: str | None
    hint: str | None
    capabilities: list[CapabilityResult]
    endpoint: str
    database_code: str | None
    tested_at: dt.datetime

    @property
    def latency_ms(self) -> float:
        return max((capability.latency_ms for capability in self.capabilities), default=0.0)

    def as_record(self) -> dict[str, Any]:
        """JSON-ready form, stored as the connection's last test and returned by the API."""
        return {
            "ok": self.ok,
            "code": self.code,
            "hint": self.hint,
            "tested_at": self.tested_at.isoformat(),
            "latency_ms": self.latency_ms,
            "database": {"endpoint": self.endpoint, "database_code": self.database_code},
            "capabilities": [
                {**asdict(capability), "capability": capability.capability.value}
                for capability in self.capabilities
            ],
        }


def _verdict(capabilities: list[CapabilityResult]) -> tuple[bool, str | None, str | None]:
    customers = next(c for c in capabilities if c.capability is Capability.CUSTOMERS_OUT)
    failing = [c for c in capabilities if not c.ok]
    if customers.ok:
        first = failing[0] if failing else None
        return True, first.code if first else None, first.hint if first else None
    return False, customers.code, customers.hint


async def test_credentials(client: DirectoClient, creds: DirectoCredentials) -> ConnectionTest:
    """Probe what the token may do; never raises for Directo failures (they are the result)."""
    capabilities = await probe_connection(client, creds)
    ok, code, hint = _verdict(capabilities)
    return ConnectionTest(
        ok=ok,
        code=code,
        hint=hint,
        capabilities=capabilities,
        endpoint=client.endpoint(creds),
        database_code=creds.database_code,
        tested_at=dt.datetime.now(dt.UTC),
    )
