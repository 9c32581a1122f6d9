"""`SandboxState`: the sandbox's databases, tokens and request log (the Python API).

Tests in the same process change it directly; tests driving a separate process use the
``/_sandbox/…`` admin routes, which call the same methods. The request log never holds a
token: only a SHA-256 prefix and the last four characters.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.directo.sandbox.concurrency import CallGauge
from app.directo.sandbox.config import (
    DEFAULT_DATABASES,
    DEFAULT_TOKENS,
    DatabaseSpec,
    ServerMode,
    TokenSpec,
)
from app.directo.sandbox.data import Rec
from app.directo.sandbox.store import SandboxDatabase


def token_fingerprint(token: str) -> str:
    """What the log keeps of a token: ``sha256:<12 hex>…<last 4>``."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:12]
    return f"sha256:{digest}…{token[-4:]}" if token else ""


@dataclass(slots=True)
class LoggedRequest:
    """One request to the XML Direct endpoint, as the request log keeps it."""

    at: str
    method: str
    path: str
    op: str
    what: str
    token: str  # fingerprint only
    database: str | None
    params: dict[str, str] = field(default_factory=dict)  # no token, key or xmldata
    xmldata_bytes: int = 0
    outcome: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class SandboxState:
    """All databases and tokens of one sandbox, its `ServerMode`, and the log of the last
    requests."""

    def __init__(
        self,
        databases: Iterable[DatabaseSpec] = DEFAULT_DATABASES,
        tokens: Iterable[TokenSpec] = DEFAULT_TOKENS,
        *,
        mode: ServerMode | None = None,
        clock: Callable[[], datetime] = datetime.now,
        log_size: int = 1000,
    ) -> None:
        self._initial = (tuple(databases), tuple(tokens), mode or ServerMode())
        self._clock = clock
        self._lock = threading.RLock()
        self._log: deque[LoggedRequest] = deque(maxlen=log_size)
        self.databases: dict[str, SandboxDatabase] = {}
        self.tokens: dict[str, TokenSpec] = {}
        self.mode = self._initial[2]
        self.calls = CallGauge()  # calls in flight per token fingerprint, and their maximum
        self.reset()

    def reset(self) -> None:
        """Back to the databases, tokens and mode given at construction; forgets all
        mutations."""
        with self._lock:
            self.databases.clear()
            self.tokens.clear()
            self._log.clear()
            self.calls.clear()
            self.mode = self._initial[2]
            for spec in self._initial[0]:
                self.add_database(spec)
            for token in self._initial[1]:
                self.add_token(token)

    def set_mode(self, mode: ServerMode) -> None:
        """Change how the server reads requests (until the next `reset`)."""
        with self._lock:
            self.mode = mode

    def add_database(self, spec: DatabaseSpec) -> SandboxDatabase:
        """Add (or replace) a database; raises ``ValueError`` for an unknown country."""
        if spec.country not in {"EE", "LV"}:
            raise ValueError("country must be EE or LV")
        database = SandboxDatabase(spec, clock=self._clock)
        with self._lock:
            self.databases[spec.name] = database
        return database

    def database(self, name: str) -> SandboxDatabase:
        """The database ``name``; raises ``KeyError`` when there is none."""
        return self.databases[name]

    def by_code(self, code: str) -> SandboxDatabase | None:
        """The database reachable at the legacy URL ``/xmlcore/<code>/xmlcore.asp``."""
        return next((db for db in self.databases.values() if db.spec.database_code == code), None)

    def add_token(self, spec: TokenSpec) -> None:
        """Add or replace a token; raises ``KeyError`` when its database does not exist."""
        self.database(spec.database)
        with self._lock:
            self.tokens[spec.token] = spec

    def revoke_token(self, token: str) -> None:
        """Make a token answer Unauthorized from now on (raises ``KeyError`` if unknown)."""
        with self._lock:
            self.tokens[token] = replace(self.tokens[token], revoked=True)

    def license(self, token: str, components: Iterable[str]) -> None:
        """Set which components (``"get:customer"``, ``"put:invoice"`` …) a token may use."""
        with self._lock:
            self.tokens[token] = replace(self.tokens[token], components=frozenset(components))

    def resolve(self, token: str) -> tuple[TokenSpec, SandboxDatabase] | None:
        """The token's spec and database, or ``None`` when the token is unknown."""
        with self._lock:
            spec = self.tokens.get(token)
            database = self.databases.get(spec.database) if spec else None
        return (spec, database) if spec and database else None

    def add_receipt(
        self,
        database: str,
        *,
        invoice: str,
        amount: Decimal | str | None = None,
        confirmed: bool = True,
        day: str | None = None,
        paymentmode: str = "PANK",
    ) -> Rec:
        """Add a receipt paying ``invoice`` (its current balance when ``amount`` is None).

        A confirmed receipt lowers the invoice's ``balance`` and bumps its ``ts`` at once;
        an unconfirmed one does neither until `SandboxDatabase.confirm_receipt`. Raises
        ``KeyError`` for an unknown database or invoice.
        """
        db = self.database(database)
        current = db.invoice(invoice)
        if current is None:
            raise KeyError(f"no invoice {invoice!r}")
        attrs = current[0]
        when = f"{day or db.today.isoformat()}T00:00:00"
        received = str(amount if amount is not None else attrs["balance"])
        row = {"invoice": invoice, "aeg": when, "customer": attrs["customercode"],
               "customername": attrs["customername"], "received": received,
               "invoicesum": attrs["balance"]}  # fmt: skip
        header = {"paymentmode": paymentmode, "aeg": when, "confirmed": "1" if confirmed else "0"}
        return db.add_receipt(header, [row])

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    @property
    def requests(self) -> list[LoggedRequest]:
        """The logged requests, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def max_concurrent_calls(self, token: str) -> int:
        """The most calls `token` had in flight at once (since the last `reset` or
        ``calls.clear()``)."""
        return self.calls.max_in_flight(token_fingerprint(token))

    def now(self) -> str:
        return self._clock().isoformat(timespec="seconds")
