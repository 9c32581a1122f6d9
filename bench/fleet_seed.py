"""The simulated fleet of `bench/fleet.py`: its plan, its sandbox, and its rows in bulk.

`FleetPlan.build(scale)` is a pure function of the scale, so the bench and the sandbox
process (``python bench/fleet_seed.py --scale S --latency L --port P``) agree on every
company, client, Directo database and token without talking to each other:

* ``round(200 × scale)`` small companies, each with 25 clients linked to customers of its
  own Directo database (``fleet-c0001`` …);
* ``round(20 × scale)`` clients with their own connection and Directo database, one in each
  of the first small companies;
* one large firm of ``round(1000 × scale)`` linked clients (``fleet-large``);
* single-client companies (``fleet-solo-N``) to warm the workers up and measure one client's
  import alone.

Every company's summary settings map every field of the catalogue, with the import day rule
`last_work_day` and settings dated on last month's import day — so last month's read (and
only that) is due now for every client. Rows go in with one multi-row INSERT per table
(`seed`), never through the API; the sandbox builds its databases in its own process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.directo.sandbox import (  # noqa: E402 - after the path set-up above
    DatabaseSpec,
    Faults,
    SandboxState,
    Sizes,
    TokenSpec,
)

LINKED_PER_COMPANY = 25
COMPANIES = 200
OWN_CONNECTION_CLIENTS = 20
LARGE_FIRM_CLIENTS = 1000
MONTHS_OF_DATA = 2  # last month (the one read) and this one: less for the sandbox to walk


@dataclass(frozen=True, slots=True)
class Database:
    """A sandbox Directo database and the one token that reaches it."""

    name: str
    token: str
    customers: int
    invoices_per_month: int
    seed: int

    def spec(self) -> DatabaseSpec:
        sizes = Sizes(
            customers=self.customers,
            months=MONTHS_OF_DATA,
            invoices_per_month=self.invoices_per_month,
        )
        return DatabaseSpec(name=self.name, country="EE", seed=self.seed, sizes=sizes)


@dataclass(frozen=True, slots=True)
class Company:
    """An Uku company: its database, its linked clients, its clients with their own one."""

    company_id: str
    kind: str  # "small", "large" or "solo"
    database: Database
    linked: int
    own: tuple[tuple[str, Database], ...] = ()  # (client id, its own database)

    def linked_client(self, index: int) -> str:
        return f"{self.company_id}-k{index + 1:04d}"

    @property
    def clients(self) -> int:
        return self.linked + len(self.own)


def _database(name: str, *, customers: int, seed: int) -> Database:
    # About four invoices per customer and month, as a bookkeeping client has.
    return Database(f"db-{name}", f"fleet-token-{name}", customers, 4 * customers, seed)


@dataclass(frozen=True, slots=True)
class FleetPlan:
    companies: tuple[Company, ...]  # small ones first, then the large firm
    solo: tuple[Company, ...]

    @classmethod
    def build(cls, scale: float, *, solo: int = 7) -> FleetPlan:
        small = max(1, round(COMPANIES * scale))
        own = min(small, max(1, round(OWN_CONNECTION_CLIENTS * scale)))
        large = max(LINKED_PER_COMPANY + 1, round(LARGE_FIRM_CLIENTS * scale))
        companies = []
        for index in range(small):
            name = f"c{index + 1:04d}"
            own_clients: tuple[tuple[str, Database], ...] = ()
            if index < own:
                own_clients = ((f"fleet-{name}-own", _own_database(name, seed=10_000 + index)),)
            companies.append(
                Company(
                    f"fleet-{name}",
                    "small",
                    _database(name, customers=LINKED_PER_COMPANY + 15, seed=index + 1),
                    LINKED_PER_COMPANY,
                    own_clients,
                )
            )
        companies.append(
            Company(
                "fleet-large", "large", _database("large", customers=large + 200, seed=9_999), large
            )
        )
        solos = tuple(
            Company(
                f"fleet-solo-{n}", "solo", _database(f"solo-{n}", customers=40, seed=20_000 + n), 1
            )
            for n in range(1, solo + 1)
        )
        return cls(tuple(companies), solos)

    @property
    def all_companies(self) -> tuple[Company, ...]:
        return self.companies + self.solo

    def databases(self) -> list[Database]:
        return [
            database
            for company in self.all_companies
            for database in (company.database, *(own for _, own in company.own))
        ]

    @property
    def clients(self) -> int:
        return sum(company.clients for company in self.companies)


def _own_database(name: str, *, seed: int) -> Database:
    return Database(f"db-{name}-own", f"fleet-token-{name}-own", 100, 40, seed)


# -- the sandbox process ------------------------------------------------------------------


def sandbox_state(plan: FleetPlan, *, latency_ms: int) -> SandboxState:
    """Every database of the plan, each answering after `latency_ms`; the request log keeps
    every request of a run (the bench counts calls from it)."""
    databases = plan.databases()
    state = SandboxState(
        [database.spec() for database in databases],
        [TokenSpec(database.token, database.name) for database in databases],
        log_size=1_000_000,
    )
    for database in databases:
        state.database(database.name).set_faults(Faults(latency_ms=latency_ms))
    return state


def serve_sandbox(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    from app.directo.sandbox.app import create_sandbox_app
    from app.directo.sandbox.cache import FeedCache

    parser = argparse.ArgumentParser(description="The fleet's Directo sandbox (bench/fleet.py)")
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--latency-ms", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cache-entries", type=int, default=16, help="rendered feeds kept")
    args = parser.parse_args(argv)
    plan = FleetPlan.build(args.scale)
    app = create_sandbox_app(sandbox_state(plan, latency_ms=args.latency_ms))
    app.state.feed_cache = FeedCache(max_entries=args.cache_entries)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


# -- the gateway's rows -------------------------------------------------------------------


def last_import_day(today: dt.date) -> dt.date:
    """Last month's import day under `last_work_day` in Estonia: the day whose read is due."""
    from app.statistics.import_days import ImportDayRule, add_months, first_of_month, import_day

    month = add_months(first_of_month(today), -1)
    return import_day(month, rule=ImportDayRule("last_work_day"), day=None, country="EE")


def last_settings_time() -> dt.datetime:
    """Summary settings dated on last month's import day: that month's read is due now, and
    no earlier month's (the schedule never reads a month whose import day came before the
    settings existed)."""
    from app.statistics.import_days import BALTIC_TIME, local_today

    return dt.datetime.combine(last_import_day(local_today()), dt.time(12), BALTIC_TIME)


async def seed(url: str, companies: Iterable[Company], *, settings_since: dt.datetime) -> int:
    """Insert the companies (integration, connections sealed as the API seals them, catalogue
    watermarks as if just refreshed, summary settings created at `settings_since`, clients
    and links) with one multi-row INSERT per table; returns the clients inserted."""
    from sqlalchemy import insert

    from app.config import Settings
    from app.db.models import (
        Client,
        ClientLink,
        Connection,
        ConnectionScope,
        Integration,
        SummarySettings,
    )
    from app.db.models.catalog import SyncWatermark
    from app.directo.sandbox.data import Dataset
    from app.resources import open_resources
    from app.security.contexts import token_context
    from app.statistics.fields import FIELD_KEYS

    now = dt.datetime.now(dt.UTC)
    mapping = {key: f"uku-{key}" for key in sorted(FIELD_KEYS)}
    rows: dict[type, list[dict[str, object]]] = {
        model: []
        for model in (Integration, Connection, SyncWatermark, SummarySettings, Client, ClientLink)
    }
    settings = Settings.model_validate({"database": {"url": url}, "log": {"level": "WARNING"}})
    async with open_resources(settings) as resources:

        def connection(company: Company, database: Database, client_id: str | None) -> uuid.UUID:
            connection_id = uuid.uuid4()
            sealed = resources.secrets.seal(database.token, context=token_context(connection_id))
            rows[Connection].append(
                {
                    "id": connection_id,
                    "company_id": company.company_id,
                    "client_id": client_id,
                    "scope": ConnectionScope.CLIENT if client_id else ConnectionScope.COMPANY,
                    "token_encrypted": sealed.ciphertext,
                    "token_key_id": sealed.key_id,
                    "token_hint": database.token[-4:],
                }
            )
            for feed in ("customers", "articles"):
                rows[SyncWatermark].append(
                    {
                        "connection_id": connection_id,
                        "feed": feed,
                        "last_run_at": now,
                        "last_full_at": now,
                    }
                )
            return connection_id

        for company in companies:
            rows[Integration].append(
                {"id": uuid.uuid4(), "company_id": company.company_id, "enabled": True}
            )
            rows[SummarySettings].append(
                {
                    "company_id": company.company_id,
                    "task_title": "Monthly summary",
                    "import_day_rule": "last_work_day",
                    "field_mapping": mapping,
                    "created_at": settings_since,
                    "updated_at": settings_since,
                }
            )
            company_connection = connection(company, company.database, None)
            for index in range(company.linked):
                client_id = company.linked_client(index)
                rows[Client].append(
                    {
                        "id": uuid.uuid4(),
                        "company_id": company.company_id,
                        "client_id": client_id,
                        "country": "EE",
                    }
                )
                rows[ClientLink].append(
                    {
                        "id": uuid.uuid4(),
                        "company_id": company.company_id,
                        "client_id": client_id,
                        "customer_code": Dataset.customer_code(index),
                        "connection_id": company_connection,
                    }
                )
            for client_id, database in company.own:
                rows[Client].append(
                    {
                        "id": uuid.uuid4(),
                        "company_id": company.company_id,
                        "client_id": client_id,
                        "country": "EE",
                    }
                )
                connection(company, database, client_id)
        async with resources.sessionmaker() as session, session.begin():
            for model, values in rows.items():
                for start in range(0, len(values), 2000):
                    await session.execute(insert(model), values[start : start + 2000])
    return len(rows[Client])


if __name__ == "__main__":
    serve_sandbox()
