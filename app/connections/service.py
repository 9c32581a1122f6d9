"""Connecting Directo: enabling the integration, storing a tested token (sealed at rest; the
caller starts the first customer import of a working one), and telling which connection
serves a client.

Tokens live only as AES-GCM ciphertext bound to their connection row; what is ever shown
is the masked hint (last four characters). A replacement token is checked to reach the
same Directo database as the one imported from (`identity.py`); one that reaches another
database, or that cannot be checked because it fails its test, is refused — or, when the
caller switches databases on purpose, retires the connection and starts a new one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import health, identity
from app.connections.capabilities import Needs
from app.connections.connection_test import ConnectionTest, test_credentials
from app.db.models import Connection, ConnectionHealth, ConnectionScope, Integration
from app.db.repositories import connections as connection_repo
from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials, normalize_token
from app.errors import AppError, Conflict, NotFound, ProblemItem
from app.security.contexts import token_context
from app.security.crypto import Sealed, SecretBox, SecretDecryptionError, mask_secret


def credentials_of(connection: Connection, secrets: SecretBox) -> DirectoCredentials:
    """The connection's credentials, decrypted for one use (never stored elsewhere)."""
    sealed = Sealed(ciphertext=connection.token_encrypted, key_id=connection.token_key_id)
    token = secrets.open(sealed, context=token_context(connection.id))
    return DirectoCredentials(
        token=token, database_code=connection.database_code, connection_id=connection.id
    )


async def enable(
    session: AsyncSession,
    company_id: str,
    *,
    auto_confirm_invoices: bool | None,
    invoice_export_enabled: bool | None,
) -> tuple[Integration, bool]:
    """Enable Directo for the company (idempotent); settings left None keep their value."""
    integration = await connection_repo.get_integration(session, company_id)
    created = integration is None
    now = dt.datetime.now(dt.UTC)
    if integration is None:
        integration = Integration(
            id=uuid.uuid4(), company_id=company_id, enabled=True, enabled_at=now
        )
        await connection_repo.add(session, integration)
    elif not integration.enabled:
        integration.enabled, integration.enabled_at, integration.disabled_at = True, now, None
    if auto_confirm_invoices is not None:
        integration.auto_confirm_invoices = auto_confirm_invoices
    if invoice_export_enabled is not None:
        integration.invoice_export_enabled = invoice_export_enabled
    await session.flush()
    await session.refresh(integration)
    return integration, created


async def get_integration(session: AsyncSession, company_id: str) -> Integration:
    integration = await connection_repo.get_integration(session, company_id)
    if integration is None:
        raise NotFound("Directo integration")
    return integration


async def disable(session: AsyncSession, company_id: str) -> None:
    """Stop all scheduled work for the company; its data and credentials are kept."""
    integration = await get_integration(session, company_id)
    if integration.enabled:
        integration.enabled, integration.disabled_at = False, dt.datetime.now(dt.UTC)
    await session.flush()


async def require_enabled(session: AsyncSession, company_id: str) -> Integration:
    integration = await connection_repo.get_integration(session, company_id)
    if integration is None or not integration.enabled:
        raise Conflict(
            "integration_disabled",
            "Directo is not enabled for this company: "
            "PUT /v1/companies/{company_id}/directo first.",
        )
    return integration


@dataclass(frozen=True, slots=True)
class ConnectOutcome:
    connection: Connection
    created: bool
    test: ConnectionTest
    token_whitespace_removed: bool
    replaced: identity.Replaced | None = None


def _test_failed(test: ConnectionTest) -> AppError:
    return AppError(
        test.code or "connection_test_failed",
        test.hint or "Directo did not accept the token.",
        status=422,
        errors=[
            ProblemItem(
                code=capability.code or "failed",
                message=f"{capability.capability.value.replace('_', ' ')}: not usable",
                loc=["capabilities", capability.capability.value],
                fix=capability.hint,
            )
            for capability in test.capabilities
            if not capability.ok
        ],
    )


async def connect(
    session: AsyncSession,
    *,
    company_id: str,
    client_id: str | None,
    raw_token: str,
    database_code: str | None,
    force: bool,
    switch_database: bool,
    needs: Needs,
    directo: DirectoClient,
    secrets: SecretBox,
) -> ConnectOutcome:
    """Test the token against `needs` (what the configured features read) and store it
    sealed (see module docstring); the caller starts the customer import of a working one.

    A failed test stores nothing (422 with the code and hint) unless `force`, which stores
    the credentials as `needs_attention` (no import is started for them). A token that replaces
    another is refused (409) when it reaches another Directo database
    (`directo_database_changed`), or fails its test while the connection holds data of its
    database (`directo_database_unverified`, whatever `force` says) — unless
    `switch_database`, which retires the current connection (see `identity.retire`) and
    stores the token on a new one.
    """
    await require_enabled(session, company_id)
    token, whitespace_removed = normalize_token(raw_token)
    if not token:
        raise AppError("token_missing", "The token is empty.", status=422)
    try:
        creds = DirectoCredentials(token=token, database_code=database_code)
    except ValueError as exc:
        raise AppError("database_code_invalid", str(exc), status=422) from exc
    test = await test_credentials(directo, creds, needs=needs)
    if not test.ok and not force:
        raise _test_failed(test)
    if client_id is not None:
        await connection_repo.ensure_client(session, company_id, client_id)
    current = await connection_repo.get_connection(session, company_id, client_id)
    switch = False
    if current is not None and _replaces_credentials(current, creds, secrets):
        # Checked before the row is locked: the check calls Directo.
        if test.ok:
            check = await identity.check_same_database(
                session, current, directo=directo, creds=creds
            )
            if not check.same_database and not switch_database:
                raise identity.database_changed(check, current)
            switch = not check.same_database
        elif await connection_repo.holds_database_data(session, current.id):
            if not switch_database:
                raise identity.database_unverified(current, _test_failed(test))
            switch = True
    connection = await connection_repo.get_connection(
        session, company_id, client_id, for_update=True
    )
    if current is not None and (connection is None or connection.id != current.id):
        raise Conflict(
            "connection_changed", "The connection changed meanwhile: send the request again."
        )
    replaced = await identity.retire(session, connection) if switch and connection else None
    if replaced is not None:
        connection = None
    created = connection is None
    if connection is None:
        connection = Connection(
            id=uuid.uuid4(),
            company_id=company_id,
            client_id=client_id,
            scope=ConnectionScope.CLIENT if client_id else ConnectionScope.COMPANY,
        )
    sealed = secrets.seal(token, context=token_context(connection.id))
    connection.token_encrypted, connection.token_key_id = sealed.ciphertext, sealed.key_id
    connection.token_hint = mask_secret(token)
    connection.database_code = database_code
    _record_test(connection, test)
    if created:
        await connection_repo.add(session, connection)
    if replaced is not None:
        replaced.connection.replaced_by_id = connection.id
    await session.flush()
    await session.refresh(connection)
    return ConnectOutcome(connection, created, test, whitespace_removed, replaced)


def _replaces_credentials(
    connection: Connection, creds: DirectoCredentials, secrets: SecretBox
) -> bool:
    """Whether `creds` differ from the stored ones (a stored token that cannot be opened
    counts as different: the new one is checked)."""
    try:
        return credentials_of(connection, secrets) != creds
    except SecretDecryptionError:
        return True


def _record_test(connection: Connection, test: ConnectionTest) -> None:
    """Store the test and what it concludes about the connection's health."""
    connection.last_test_at = test.tested_at
    connection.last_test_ok = test.ok
    connection.last_test_result = test.as_record()
    connection.missing_feeds = [capability.value for capability in test.missing]
    if connection.health != test.health:
        connection.health, connection.health_changed_at = test.health, test.tested_at
    connection.last_error_code = None if test.health is ConnectionHealth.OK else test.code
    connection.health_hint = None if test.health is ConnectionHealth.OK else test.hint


async def get_connection(
    session: AsyncSession, company_id: str, client_id: str | None
) -> Connection:
    connection = await connection_repo.get_connection(session, company_id, client_id)
    if connection is None:
        raise NotFound("Directo connection")
    return connection


async def retest(
    session: AsyncSession,
    *,
    company_id: str,
    client_id: str | None,
    needs: Needs,
    directo: DirectoClient,
    secrets: SecretBox,
) -> tuple[Connection, ConnectionTest]:
    """Run the probe on the stored token, store the result, and update health.

    A working token's health is what the test concludes (its missing feeds replace the
    ones recorded before); a refused one goes through `health.report`, which announces
    `connection.failed` once."""
    connection = await get_connection(session, company_id, client_id)
    test = await test_credentials(directo, credentials_of(connection, secrets), needs=needs)
    connection.last_test_at, connection.last_test_ok = test.tested_at, test.ok
    connection.last_test_result = test.as_record()
    if test.ok:
        connection.missing_feeds = [capability.value for capability in test.missing]
        await session.flush()
        problem = test.health is not ConnectionHealth.OK
        await health.report(
            session,
            connection.id,
            error_code=test.code if problem else None,
            hint=test.hint,
            missing_feeds=connection.missing_feeds,
        )
    else:
        await session.flush()
        missing = [capability.value for capability in test.missing]
        await health.report(
            session, connection.id, error_code=test.code, hint=test.hint, missing_feeds=missing
        )
    await session.refresh(connection)
    return connection, test


async def delete_connection(session: AsyncSession, company_id: str, client_id: str | None) -> None:
    """Forget the credentials (and what was imported through them)."""
    connection = await get_connection(session, company_id, client_id)
    await connection_repo.delete_connection(session, connection)


async def connection_for_client(
    session: AsyncSession, company_id: str, client_id: str
) -> Connection | None:
    """The connection that serves `client_id`: its own if it has one, else the company's."""
    own = await connection_repo.get_connection(session, company_id, client_id)
    return own or await connection_repo.get_connection(session, company_id, None)
