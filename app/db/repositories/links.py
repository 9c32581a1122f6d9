"""Links between Uku clients and Directo customers (by code, per company)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ClientLink


async def get_link(
    session: AsyncSession, company_id: str, client_id: str, *, for_update: bool = False
) -> ClientLink | None:
    statement = select(ClientLink).where(
        ClientLink.company_id == company_id, ClientLink.client_id == client_id
    )
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def get_link_by_code(
    session: AsyncSession, company_id: str, customer_code: str
) -> ClientLink | None:
    return await session.scalar(
        select(ClientLink).where(
            ClientLink.company_id == company_id, ClientLink.customer_code == customer_code
        )
    )


async def add_link(session: AsyncSession, link: ClientLink) -> None:
    session.add(link)
    await session.flush()


async def delete_link(session: AsyncSession, link: ClientLink) -> None:
    await session.delete(link)
    await session.flush()


async def links_of_company(session: AsyncSession, company_id: str) -> list[ClientLink]:
    statement = (
        select(ClientLink).where(ClientLink.company_id == company_id).order_by(ClientLink.client_id)
    )
    return list((await session.execute(statement)).scalars())
