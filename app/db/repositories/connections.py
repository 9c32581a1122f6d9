"""Integrations, connections (credentials) and clients."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Client,
    ClientLink,
    Connection,
    DirectoArticle,
    DirectoCustomer,
    Integration,
    InvoiceExport,
)
from app.db.models.exports import PaymentTermCode


async def get_integration(session: AsyncSession, company_id: str) -> Integration | None:
    return await session.scalar(select(Integration).where(Integration.company_id == company_id))


async def add(session: AsyncSession, row: Integration | Connection | Client) -> None:
    session.add(row)
    await session.flush()


async def get_connection(
    session: AsyncSession, company_id: str, client_id: str | None, *, for_update: bool = False
) -> Connection | None:
    """The current (not retired) connection of the company (`client_id` None) or client."""
    statement = select(Connection).where(
        Connection.company_id == company_id,
        Connection.client_id.is_(None) if client_id is None else Connection.client_id == client_id,
        Connection.retired_at.is_(None),
    )
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def get_connection_by_id(
    session: AsyncSession, connection_id: uuid.UUID, *, for_update: bool = False
) -> Connection | None:
    statement = select(Connection).where(Connection.id == connection_id)
    if for_update:
        # NO KEY UPDATE: rows inserted under this connection (imports in flight) hold a
        # KEY SHARE lock on it; FOR UPDATE would wait for them, and two imports of one
        # connection reporting their health at the end would deadlock.
        statement = statement.with_for_update(key_share=True)
    return await session.scalar(statement)


async def delete_connection(session: AsyncSession, connection: Connection) -> None:
    await session.delete(connection)
    await session.flush()


async def sample_customers(
    session: AsyncSession, connection_id: uuid.UUID, *, limit: int
) -> list[tuple[str, str]]:
    """Up to `limit` (code, name) of customers imported through the connection: named ones
    still present in Directo, open ones first, spread over the register by a hash of the
    code (the same sample every time)."""
    statement = (
        select(DirectoCustomer.code, DirectoCustomer.name)
        .where(
            DirectoCustomer.connection_id == connection_id,
            DirectoCustomer.missing_since.is_(None),
            DirectoCustomer.name != "",
        )
        .order_by(DirectoCustomer.closed, func.md5(DirectoCustomer.code))
        .limit(limit)
    )
    return [(code, name) for code, name in (await session.execute(statement)).all()]


async def holds_database_data(session: AsyncSession, connection_id: uuid.UUID) -> bool:
    """Whether anything of the connection's Directo database is stored through it: imported
    customers or articles, client links, exports, or payment-term codes."""
    tables = (DirectoCustomer, DirectoArticle, ClientLink, InvoiceExport, PaymentTermCode)
    held = or_(*(exists().where(table.connection_id == connection_id) for table in tables))
    return bool(await session.scalar(select(held)))


async def delete_links_of(session: AsyncSession, connection_id: uuid.UUID) -> list[ClientLink]:
    """Remove the client links made to customers of the connection; returns them."""
    statement = (
        delete(ClientLink)
        .where(ClientLink.connection_id == connection_id)
        .returning(ClientLink)
        .execution_options(synchronize_session=False)
    )
    removed = list((await session.execute(statement)).scalars())
    return sorted(removed, key=lambda link: link.client_id)


async def all_connections(session: AsyncSession) -> list[Connection]:
    return list((await session.execute(select(Connection).order_by(Connection.id))).scalars())


async def ensure_client(
    session: AsyncSession, company_id: str, client_id: str, *, country: str | None = None
) -> Client:
    """The client's row, created on first mention; `country` updates it when given."""
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "company_id": company_id,
        "client_id": client_id,
    }
    if country is not None:
        values["country"] = country
    statement = insert(Client).values(**values)
    statement = (
        statement.on_conflict_do_update(
            index_elements=[Client.company_id, Client.client_id],
            set_={"country": statement.excluded.country},
        )
        if country is not None
        else statement.on_conflict_do_nothing(index_elements=[Client.company_id, Client.client_id])
    )
    await session.execute(statement)
    client = await session.scalar(
        select(Client).where(Client.company_id == company_id, Client.client_id == client_id)
    )
    assert client is not None
    return client
