"""What the import preview and article list show: the company's imported Directo records."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Connection, DirectoArticle, DirectoCustomer
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import connections as connection_repo
from app.errors import NotFound
from app.sync.catalogue import fold


async def company_connection(session: AsyncSession, company_id: str) -> Connection:
    connection = await connection_repo.get_connection(session, company_id, None)
    if connection is None:
        raise NotFound("Directo connection")
    return connection


@dataclass(frozen=True, slots=True)
class CustomerPage:
    items: list[tuple[DirectoCustomer, str | None]]
    next_after: str | None


async def list_customers(
    session: AsyncSession,
    company_id: str,
    *,
    search: str | None,
    include_closed: bool,
    linked: bool | None,
    after_code: str | None,
    limit: int,
) -> CustomerPage:
    """Customers of the company's connection by code, with the client each is linked to."""
    connection = await company_connection(session, company_id)
    rows = await catalog_repo.customers_page(
        session,
        connection.id,
        company_id=company_id,
        search=fold(search) if search else None,
        include_closed=include_closed,
        linked=linked,
        after_code=after_code,
        limit=limit,
    )
    return CustomerPage(rows, rows[-1][0].code if len(rows) == limit else None)


async def list_articles(
    session: AsyncSession,
    company_id: str,
    *,
    search: str | None,
    include_closed: bool,
    after_code: str | None,
    limit: int,
) -> tuple[list[DirectoArticle], str | None]:
    connection = await company_connection(session, company_id)
    rows = await catalog_repo.articles_page(
        session,
        connection.id,
        search=fold(search) if search else None,
        include_closed=include_closed,
        after_code=after_code,
        limit=limit,
    )
    return rows, rows[-1].code if len(rows) == limit else None
