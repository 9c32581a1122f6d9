"""Where a client's statistics come from: its own Directo database, or its customer's
documents in the company's database."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Connection
from app.db.repositories import connections as connection_repo
from app.db.repositories import statistics as statistics_repo
from app.statistics.fields import Scope


@dataclass(frozen=True, slots=True)
class ClientSource:
    client_id: str
    connection: Connection
    scope: Scope
    customer_code: str | None
    country: str

    @property
    def description(self) -> dict[str, str | None]:
        return {"scope": self.scope.value, "customer_code": self.customer_code}


async def company_sources(session: AsyncSession, company_id: str) -> dict[str, ClientSource]:
    """Every client of the company that has statistics to read, by client id: those with
    their own connection, and those linked to a customer of the company's database."""
    countries = await statistics_repo.client_countries(session, company_id)
    company = await connection_repo.get_connection(session, company_id, None)
    sources: dict[str, ClientSource] = {}
    if company is not None:
        for client_id, code in await statistics_repo.linked_customer_codes(session, company_id):
            sources[client_id] = ClientSource(
                client_id, company, Scope.LINKED_CUSTOMER, code, countries.get(client_id, "EE")
            )
    for connection in await statistics_repo.client_connections(session, company_id):
        assert connection.client_id is not None
        client_id = connection.client_id
        sources[client_id] = ClientSource(
            client_id, connection, Scope.OWN_CONNECTION, None, countries.get(client_id, "EE")
        )
    return sources


async def scheduled_sources(session: AsyncSession) -> dict[str, dict[str, ClientSource]]:
    """`company_sources` of every scheduled company (company id → client id → source) in
    three queries whatever the number of companies and clients — for the hourly tick."""
    countries = await statistics_repo.scheduled_client_countries(session)
    company_connections: dict[str, Connection] = {}
    client_connections: list[Connection] = []
    for connection in await statistics_repo.scheduled_connections(session):
        if connection.client_id is None:
            company_connections[connection.company_id] = connection
        else:
            client_connections.append(connection)
    sources: defaultdict[str, dict[str, ClientSource]] = defaultdict(dict)
    for company_id, client_id, code in await statistics_repo.scheduled_customer_links(session):
        company = company_connections.get(company_id)
        if company is not None:
            country = countries.get((company_id, client_id), "EE")
            sources[company_id][client_id] = ClientSource(
                client_id, company, Scope.LINKED_CUSTOMER, code, country
            )
    for connection in client_connections:
        assert connection.client_id is not None
        company_id, client_id = connection.company_id, connection.client_id
        country = countries.get((company_id, client_id), "EE")
        sources[company_id][client_id] = ClientSource(
            client_id, connection, Scope.OWN_CONNECTION, None, country
        )
    return dict(sources)
