"""Does a replacement token reach the same Directo database as the connection it replaces?

XML Direct names no database: the token alone picks it, and no answer says which one it
is. So the gateway compares what it knows. It takes a sample of the customers imported
through the connection (up to `SAMPLE_SIZE`, spread over the register, the same sample
every time) and reads each back by code through the new token. The same database answers
with the same names; another database answers none of them, or other customers under the
same codes (Directo numbers customer cards alike in every database, so shared codes are
common — hence names are compared too). The database counts as the same when at least half
of the sample comes back unchanged, so a customer renamed or deleted since the last import
raises no false alarm, while two firms' registers sharing half a sample of names is not
seen in practice.

A token that fails its connection test cannot be compared at all. Stored in place (as
`force` stores a failing token), it would import another firm's customers into the
connection the day its access is fixed; so while the connection holds anything of its
database (imports, links, exports, payment-term codes), such a token is refused
(`database_unverified`) unless the caller switches databases on purpose.

A switch made on purpose (`switch_database`) retires the connection (`retire`) rather than
changing it, so the previous database's imports and exports are never mixed with the new
one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ClientLink, Connection
from app.db.repositories import connections as connection_repo
from app.directo import feeds
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoError
from app.errors import AppError, ProblemItem

SAMPLE_SIZE = 5


@dataclass(frozen=True, slots=True)
class Comparison:
    """One sampled customer: its stored name, and the name the new token reads (None: the
    new token's database has no customer with that code)."""

    code: str
    stored_name: str
    found_name: str | None

    @property
    def same(self) -> bool:
        return self.found_name is not None and self.found_name.strip() == self.stored_name.strip()


@dataclass(frozen=True, slots=True)
class IdentityCheck:
    comparisons: list[Comparison]

    @property
    def matched(self) -> int:
        return sum(comparison.same for comparison in self.comparisons)

    @property
    def same_database(self) -> bool:
        """True when nothing was imported yet (nothing to mix) or half the sample matches."""
        return 2 * self.matched >= len(self.comparisons)


async def _read_name(directo: DirectoClient, creds: DirectoCredentials, code: str) -> str | None:
    stream = directo.iter_feed(creds, feeds.CUSTOMERS, filters={"code": code}, max_attempts=1)
    async with contextlib.aclosing(stream) as batches:
        async for batch in batches:
            for customer in batch:
                if customer.code == code:
                    return customer.name or ""
    return None


async def check_same_database(
    session: AsyncSession,
    connection: Connection,
    *,
    directo: DirectoClient,
    creds: DirectoCredentials,
) -> IdentityCheck:
    """Compare the connection's sampled customers with what `creds` read (one call each,
    no retries: this runs inside a request). Raises `AppError` (503 when retrying can help)
    if Directo does not answer, as nothing can be concluded then."""
    sample = await connection_repo.sample_customers(session, connection.id, limit=SAMPLE_SIZE)
    try:
        names = await asyncio.gather(*(_read_name(directo, creds, code) for code, _ in sample))
    except DirectoError as error:
        raise AppError(
            error.code,
            "The new token could not be checked against the Directo database this connection "
            f"imported from (reading customers failed: {error.message}). {error.hint}",
            status=503 if error.retryable else 422,
            headers={"Retry-After": "60"} if error.retryable else None,
        ) from error
    return IdentityCheck(
        [
            Comparison(code, stored, found)
            for (code, stored), found in zip(sample, names, strict=True)
        ]
    )


# How a deliberate switch is asked for, and what it does (both 409s end with it).
_SWITCH_CONSEQUENCES = (
    '"switch_database": true: the previous database\'s customers, articles and exports are '
    "then kept apart with the retired connection, its client links are removed, and a new "
    "connection starts from the new database."
)


def database_changed(check: IdentityCheck, connection: Connection) -> AppError:
    """The 409 for a token that reaches another database, naming the sampled customers."""
    scope = "the company" if connection.client_id is None else f"client {connection.client_id!r}"
    differing = [
        ProblemItem(
            code="customer_differs" if comparison.found_name is not None else "customer_absent",
            message=f"customer {comparison.code!r}: stored as {comparison.stored_name!r}, "
            + (
                f"the new token reads {comparison.found_name!r}"
                if comparison.found_name is not None
                else "not found through the new token"
            ),
            loc=["customers", comparison.code],
        )
        for comparison in check.comparisons
        if not comparison.same
    ]
    return AppError(
        "directo_database_changed",
        f"The new token reaches a different Directo database than the one {scope} is "
        f"connected to: only {check.matched} of {len(check.comparisons)} customers imported "
        "through the current token read back the same. Check that the token was made in "
        "the right Directo company. To switch databases on purpose, send it again with "
        + _SWITCH_CONSEQUENCES,
        status=409,
        errors=differing,
    )


def database_unverified(connection: Connection, test_failure: AppError) -> AppError:
    """The 409 for a token that fails its test (`test_failure`, whose problems it lists)
    and would replace one whose connection holds data of its database: which database the
    token reaches cannot be checked, so storing it in place could mix two firms' books."""
    scope = "the company" if connection.client_id is None else f"client {connection.client_id!r}"
    return AppError(
        "directo_database_unverified",
        f"The new token failed its connection test ({test_failure.code}; errors says what "
        "to fix), so which Directo database it reaches cannot be checked against the one "
        f"{scope} is connected to, whose customers, links or exports are stored here. It is "
        'not stored, even with "force": true. Fix the token\'s access first and send it '
        "again (it is then checked against the stored customers); or, to connect another "
        f'Directo database deliberately, send it with "force": true and {_SWITCH_CONSEQUENCES}',
        status=409,
        errors=test_failure.errors,
    )


@dataclass(frozen=True, slots=True)
class Replaced:
    """The connection a deliberate switch of databases retired, and the links it removed."""

    connection: Connection
    links_removed: list[ClientLink]


async def retire(session: AsyncSession, connection: Connection) -> Replaced:
    """Retire `connection`: its imports (customers, articles, watermarks) and exports stay
    tied to it as the previous database's, no scheduled work uses it again, and the client
    links to its customers are removed (their codes mean other customers in the new
    database). In-flight jobs finish against the previous database with its own token."""
    connection.retired_at = dt.datetime.now(dt.UTC)
    links = await connection_repo.delete_links_of(session, connection.id)
    await session.flush()
    return Replaced(connection, links)
