"""Running a connection test: the Directo capability probe, summarised for people.

Every feed the product uses is probed; each capability says which features it enables and
which of those this connection's configuration uses (`needed_by`). The verdict:

* `ok` — customers out works: the connection is usable (connecting starts a customer
  import). Otherwise `code`/`hint` are customers out's (unauthorized, timeout …).
* `health` — `ok`; `degraded` when a feature that is configured needs a feed the key lacks
  (`missing_feeds`, hint "Ask Directo to activate …") or Directo cannot read the filter
  dates (`date_format_mismatch`); `needs_attention` when the token is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from app.connections.capabilities import ENABLES, Feature, Needs, activation_hint
from app.db.models import ConnectionHealth
from app.directo.capability_probe import Capability, CapabilityResult, probe_connection
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials

_REFUSED = frozenset({"unauthorized", "token_missing", "feed_not_activated"})


@dataclass(frozen=True, slots=True)
class ConnectionTest:
    """The verdict: `ok` when the token can read customers (what connecting needs)."""

    ok: bool
    health: ConnectionHealth
    code: str | None
    hint: str | None
    capabilities: list[CapabilityResult]
    needs: Needs
    endpoint: str
    database_code: str | None
    tested_at: dt.datetime

    @property
    def latency_ms(self) -> float:
        return max((capability.latency_ms for capability in self.capabilities), default=0.0)

    @property
    def missing(self) -> dict[Capability, list[Feature]]:
        """Capabilities that configured features need and the key is not licensed for."""
        return {
            c.capability: self.needs[c.capability]
            for c in self.capabilities
            if c.code == "feed_not_activated" and c.capability in self.needs
        }

    def as_record(self) -> dict[str, Any]:
        """JSON-ready form, stored as the connection's last test and returned by the API."""
        return {
            "ok": self.ok,
            "health": self.health.value,
            "code": self.code,
            "hint": self.hint,
            "missing_feeds": [capability.value for capability in self.missing],
            "tested_at": self.tested_at.isoformat(),
            "latency_ms": self.latency_ms,
            "database": {"endpoint": self.endpoint, "database_code": self.database_code},
            "capabilities": [
                {
                    **asdict(capability),
                    "capability": capability.capability.value,
                    "enables": [feature.value for feature in ENABLES[capability.capability]],
                    "needed_by": [f.value for f in self.needs.get(capability.capability, [])],
                }
                for capability in self.capabilities
            ],
        }


def _verdict(
    capabilities: list[CapabilityResult], needs: Needs
) -> tuple[bool, ConnectionHealth, str | None, str | None]:
    """`ok`, the health, and the code and hint that matter most: customers out's failure;
    else what a configured feature lacks; else the first capability that failed (for
    information: no configured feature needs it)."""
    customers = next(c for c in capabilities if c.capability is Capability.CUSTOMERS_OUT)
    if not customers.ok:
        refused = customers.code in _REFUSED
        health = ConnectionHealth.NEEDS_ATTENTION if refused else ConnectionHealth.DEGRADED
        return False, health, customers.code, customers.hint
    failing = [c for c in capabilities if not c.ok]
    needed = [c for c in failing if c.capability in needs]
    dates = [c for c in needed if c.code == "date_format_mismatch"]
    if dates:
        return True, ConnectionHealth.DEGRADED, dates[0].code, dates[0].hint
    missing = {c.capability: needs[c.capability] for c in needed if c.code == "feed_not_activated"}
    if missing:
        return True, ConnectionHealth.DEGRADED, "feed_not_activated", activation_hint(missing)
    first = failing[0] if failing else None
    return True, ConnectionHealth.OK, first.code if first else None, first.hint if first else None


async def test_credentials(
    client: DirectoClient, creds: DirectoCredentials, *, needs: Needs
) -> ConnectionTest:
    """Probe every capability; never raises for Directo failures (they are the result).

    `needs` (from `capabilities.configured_needs`) decides which failures degrade the
    connection: those of feeds a configured feature uses."""
    capabilities = await probe_connection(client, creds)
    ok, health, code, hint = _verdict(capabilities, needs)
    return ConnectionTest(
        ok=ok,
        health=health,
        code=code,
        hint=hint,
        capabilities=capabilities,
        needs=needs,
        endpoint=client.endpoint(creds),
        database_code=creds.database_code,
        tested_at=dt.datetime.now(dt.UTC),
    )
