"""Payment-term codes per connection: which code of the Directo database's payment-term
register an invoice's term in days is sent as.

Directo's invoice `paymentterm` is a code of the database's register (some databases
name terms by their day count, others not — PROTOCOL §7). By default the day count is
sent as it is (seed 001's rule); a mapping set here replaces it for the day counts it
names. `duedate` is always sent too, so Directo has the date whatever a code means.
The mapping belongs to a connection (a Directo database): the company's, or a client's
own. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.service import get_connection
from app.db.models import Connection
from app.db.repositories import connections as connection_repo
from app.db.repositories import payment_terms as term_repo
from app.errors import NotFound


async def codes_for(
    session: AsyncSession, company_id: str, client_id: str | None
) -> tuple[Connection, dict[int, str]]:
    """The connection (company's when `client_id` is None) and its mapping; 404 without one."""
    connection = await get_connection(session, company_id, client_id)
    return connection, await term_repo.codes_of(session, connection.id)


async def replace(
    session: AsyncSession, company_id: str, client_id: str | None, codes: Mapping[int, str]
) -> tuple[Connection, dict[int, str]]:
    """Make `codes` the connection's whole mapping (an empty one: day counts as they are).

    The connection row is locked first, so concurrent replacements run one after the
    other (the last one wins) instead of colliding on the codes' primary key.
    """
    connection = await connection_repo.get_connection(
        session, company_id, client_id, for_update=True
    )
    if connection is None:
        raise NotFound("Directo connection")
    await term_repo.replace_codes(session, connection.id, codes)
    return connection, await term_repo.codes_of(session, connection.id)
