"""Linking Uku clients to Directo customers of the company's database, by customer code.

One customer links to at most one client of a company. Re-linking a client to another code
changes which documents are its work: the outcome says so (`relinked`), and the caller
requests a statistics reload for that client.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ClientLink, DirectoCustomer
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import connections as connection_repo
from app.db.repositories import links as link_repo
from app.errors import AppError, Conflict, NotFound


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    link: ClientLink
    customer: DirectoCustomer
    created: bool
    relinked: bool  # linked before to another customer: its statistics need a reload


async def link_client(
    session: AsyncSession,
    *,
    company_id: str,
    client_id: str,
    customer_code: str,
    country: str | None,
) -> LinkOutcome:
    """Link (or re-link) `client_id` to the customer `customer_code`; see module docstring."""
    connection = await connection_repo.get_connection(session, company_id, None)
    if (
        connection is None
        or await catalog_repo.count_records(session, DirectoCustomer, connection.id) == 0
    ):
        raise AppError(
            "customers_not_imported",
            "No Directo customers are imported for this company yet: connect Directo and "
            "import customers first.",
            status=422,
        )
    customer = await catalog_repo.get_customer(session, connection.id, customer_code)
    if customer is None:
        raise AppError(
            "customer_code_unknown",
            f"No imported Directo customer has the code {customer_code!r}; check the code or "
            "run a customer import.",
            status=422,
        )
    holder = await link_repo.get_link_by_code(session, company_id, customer_code)
    if holder is not None and holder.client_id != client_id:
        raise Conflict(
            "customer_already_linked",
            f"Directo customer {customer_code!r} is already linked to client {holder.client_id!r}; "
            "unlink it there first.",
        )
    await connection_repo.ensure_client(session, company_id, client_id, country=country)
    link = await link_repo.get_link(session, company_id, client_id, for_update=True)
    relinked = False
    created = link is None
    if link is None:
        link = ClientLink(
            id=uuid.uuid4(),
            company_id=company_id,
            client_id=client_id,
            customer_code=customer_code,
            connection_id=connection.id,
        )
        await link_repo.add_link(session, link)
    elif link.customer_code != customer_code:
        link.customer_code, link.connection_id = customer_code, connection.id
        link.updated_at = dt.datetime.now(dt.UTC)
        await session.flush()
        relinked = True
    await session.refresh(link)
    return LinkOutcome(link, customer, created, relinked)


async def unlink_client(session: AsyncSession, *, company_id: str, client_id: str) -> None:
    link = await link_repo.get_link(session, company_id, client_id)
    if link is None:
        raise NotFound("client link")
    await link_repo.delete_link(session, link)
