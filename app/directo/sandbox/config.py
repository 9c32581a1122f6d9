"""What a sandbox database is made of: sizes, faults, tokens (plain frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

ALL_COMPONENTS = frozenset(
    f"{op}:{what}"
    for op in ("get", "put")
    for what in ("customer", "item", "invoice", "receipt", "purchase", "transaction")
)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much seeded data a database holds; documents span ``months`` up to "today"."""

    customers: int = 500
    items: int = 60
    months: int = 18
    invoices_per_month: int = 40
    purchases_per_month: int = 15
    transactions_per_month: int = 60
    suppliers: int = 25


# How a put's results are written (PROTOCOL §3.5, §7): the documented wrapper, and the
# other shapes public clients handle. Each is answered after the put was applied.
ANSWER_SHAPES = {
    "results": "<results><Result Type Desc docid doctype submit/>…</results> (documented)",
    "bare": '<result type="30" desc="Created"/>: the first result, unwrapped, lower case',
    "text": '<result type="…">Desc</result>: the first result, its Desc as content',
    "error": "<error>Desc</error>: the first result's Desc only",
    "err": "<results><err>Desc</err></results>",
    "error_attr": '<results error="1" message="Desc"/>',
}
ROUTING_MODES = ("any", "query")
DATE_MODES = ("any", "dmy", "iso")


@dataclass(frozen=True, slots=True)
class Faults:
    """Per-database fault injection; the random choices come from ``seed`` (deterministic).

    Each request first waits ``latency_ms``; then, with the given probabilities, answers
    HTTP 503, sends only part of the body (well-framed, so the XML is cut short), or drops
    the connection mid-body (for a put: after the put was applied). ``drop_puts`` drops
    the answers of the next N puts only (each put applied first): a put whose outcome the
    client cannot know, while lookups by number keep working. ``answer_shape`` writes
    every put's answer in one of `ANSWER_SHAPES` (raises ``ValueError`` for another).
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    truncate_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0
    drop_puts: int = 0
    answer_shape: str = "results"

    def __post_init__(self) -> None:
        if self.answer_shape not in ANSWER_SHAPES:
            raise ValueError(f"answer_shape must be one of {sorted(ANSWER_SHAPES)}")


@dataclass(frozen=True, slots=True)
class ServerMode:
    """How the whole server reads requests (the public sources disagree; PROTOCOL §1.2, §7).

    ``routing``: ``any`` reads ``get``/``put``/``what`` and filters from the query string
    and the form body (the wiki); ``query`` only from the query string (a live client's
    report), answering ``<result type="404" desc="Invalid url given"/>`` when they are
    not there — the token and ``xmldata`` may come from either.

    ``filter_dates``: ``any`` reads ``dd.mm.yyyy`` and ISO dates alike; ``iso`` expects
    ISO and reads a dotted date month first (as a server set to ISO/US order does), so a
    day above 12 is refused with Type 9 "Invalid date given: …" and a lower one silently
    misread; ``dmy`` expects ``dd.mm.yyyy`` and reads ``yyyy-mm-dd`` as ``yyyy-dd-mm`` (as
    SQL Server does under ``DATEFORMAT dmy``), with the same consequences.
    """

    routing: str = "any"
    filter_dates: str = "any"

    def __post_init__(self) -> None:
        if self.routing not in ROUTING_MODES:
            raise ValueError(f"routing must be one of {list(ROUTING_MODES)}")
        if self.filter_dates not in DATE_MODES:
            raise ValueError(f"filter_dates must be one of {list(DATE_MODES)}")


@dataclass(frozen=True, slots=True)
class DatabaseSpec:
    """A Directo company database. ``database_code`` enables the legacy URL for it."""

    name: str
    country: str = "EE"
    database_code: str | None = None
    seed: int = 1
    today: date | None = None  # None: the real date when the database is created
    sizes: Sizes = field(default_factory=Sizes)
    # Type answered for a fresh invoice (Directo has answered both 0 and 30).
    create_type: int = 30
    # Type answered when an invoice names an unknown article/VAT/object/salesman code.
    unknown_code_type: int = 31
    # Receipts as Directo's output schema (ws_laekumised.xsd) has them: the header carries
    # only number, confirmed and ts; the date, customer and amount are on the rows. True
    # adds the header `paymentmode` and `aeg` the wiki lists too.
    receipt_header_dates: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatabaseSpec:
        """Build from an admin request body; raises ``TypeError``/``ValueError`` on junk."""
        data = dict(data)
        if "sizes" in data:
            data["sizes"] = Sizes(**data["sizes"])
        if data.get("today") is not None:
            data["today"] = date.fromisoformat(data["today"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """An XML Direct key for one database; ``components`` like ``"get:customer"``."""

    token: str
    database: str
    components: frozenset[str] = ALL_COMPONENTS
    revoked: bool = False


DEFAULT_DATABASES = (
    DatabaseSpec(name="demo_ee", country="EE", database_code="demo_ee", seed=1),
    DatabaseSpec(name="demo_lv", country="LV", database_code="demo_lv", seed=2),
)
DEFAULT_TOKENS = (
    TokenSpec("sandbox-token-ee", "demo_ee"),
    TokenSpec("sandbox-token-lv", "demo_lv"),
    TokenSpec(
        "sandbox-token-ee-cards",
        "demo_ee",
        components=frozenset({"get:customer", "get:item"}),
    ),
    TokenSpec("sandbox-token-revoked", "demo_ee", revoked=True),
)
