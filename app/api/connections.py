"""The Directo integration switch and credentials, per company or per client."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import DirectoDep, ResourcesDep, UnitOfWorkDep
from app.api.jobs import JobOut
from app.api.params import ClientId, CompanyId
from app.api.responses import created, problems
from app.connections import identity, service
from app.db.models import Connection, ConnectionHealth, ConnectionScope, Integration
from app.jobs.names import JobName

router = APIRouter(tags=["connections"])


class IntegrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_confirm_invoices: bool | None = Field(
        default=None,
        description="Exported invoices are confirmed in Directo (default false: drafts)",
    )
    invoice_export_enabled: bool | None = Field(
        default=None, description="Invoice export is allowed (default false)"
    )


class IntegrationOut(BaseModel):
    company_id: str
    enabled: bool
    auto_confirm_invoices: bool
    invoice_export_enabled: bool
    enabled_at: dt.datetime | None
    disabled_at: dt.datetime | None

    @classmethod
    def of(cls, row: Integration) -> IntegrationOut:
        return cls(
            company_id=row.company_id,
            enabled=row.enabled,
            auto_confirm_invoices=row.auto_confirm_invoices,
            invoice_export_enabled=row.invoice_export_enabled,
            enabled_at=row.enabled_at,
            disabled_at=row.disabled_at,
        )


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=512, description="The XML Direct token (key)")
    database_code: str | None = Field(
        default=None, max_length=64, description="Only for legacy per-database endpoints"
    )
    force: bool = Field(
        default=False,
        description="Store the token even if its test fails, or if it reaches another Directo "
        "database than the one imported from (the current connection is then retired)",
    )


class ConnectionOut(BaseModel):
    id: uuid.UUID
    scope: ConnectionScope
    client_id: str | None
    token_hint: str = Field(description="The token's last four characters")
    database_code: str | None
    health: ConnectionHealth
    health_hint: str | None = Field(description="What to do about a health other than ok")
    missing_feeds: list[str] = Field(
        description="Capabilities configured features need and the token lacks "
        "(ask Directo to activate them, then test again)"
    )
    last_error_code: str | None
    last_test_at: dt.datetime | None
    last_test: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Connection) -> ConnectionOut:
        return cls(
            id=row.id,
            scope=row.scope,
            client_id=row.client_id,
            token_hint=row.token_hint,
            database_code=row.database_code,
            health=row.health,
            health_hint=row.health_hint,
            missing_feeds=list(row.missing_feeds),
            last_error_code=row.last_error_code,
            last_test_at=row.last_test_at,
            last_test=row.last_test_result,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class RemovedLinkOut(BaseModel):
    client_id: str
    customer_code: str


class ReplacedOut(BaseModel):
    """The connection retired by a forced switch to another Directo database."""

    connection_id: uuid.UUID
    retired_at: dt.datetime
    links_removed: list[RemovedLinkOut] = Field(
        description="Client links to the previous database's customers, removed: link again"
    )


class ConnectOut(BaseModel):
    connection: ConnectionOut
    token_whitespace_removed: bool
    test: dict[str, Any]
    import_job: JobOut | None
    replaced: ReplacedOut | None = Field(
        default=None, description="Set when the token switched Directo databases (force)"
    )


class TestOut(BaseModel):
    connection: ConnectionOut
    test: dict[str, Any]


@router.put(
    "/companies/{company_id}/directo",
    response_model=IntegrationOut,
    responses=created(IntegrationOut) | problems(422),
)
async def enable_integration(
    company_id: CompanyId, body: IntegrationIn, uow: UnitOfWorkDep, response: Response
) -> IntegrationOut:
    """Enable Directo (idempotent) and set its settings. Pulls no data."""
    integration, created = await service.enable(
        uow.session,
        company_id,
        auto_confirm_invoices=body.auto_confirm_invoices,
        invoice_export_enabled=body.invoice_export_enabled,
    )
    await uow.commit()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return IntegrationOut.of(integration)


@router.get(
    "/companies/{company_id}/directo", response_model=IntegrationOut, responses=problems(404, 422)
)
async def get_integration(company_id: CompanyId, uow: UnitOfWorkDep) -> IntegrationOut:
    return IntegrationOut.of(await service.get_integration(uow.session, company_id))


@router.delete(
    "/companies/{company_id}/directo",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(404, 422),
)
async def disable_integration(company_id: CompanyId, uow: UnitOfWorkDep) -> Response:
    """Disable Directo: scheduled work stops; data and credentials are kept."""
    await service.disable(uow.session, company_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _connect(
    company_id: str,
    client_id: str | None,
    body: ConnectionIn,
    uow: UnitOfWorkDep,
    directo: DirectoDep,
    resources: ResourcesDep,
    response: Response,
) -> ConnectOut:
    outcome = await service.connect(
        uow.session,
        company_id=company_id,
        client_id=client_id,
        raw_token=body.token,
        database_code=body.database_code,
        force=body.force,
        directo=directo,
        secrets=resources.secrets,
    )
    if outcome.import_job is not None and outcome.import_job_created:
        uow.enqueue_after_commit(JobName(outcome.import_job.kind), outcome.import_job.id)
    await uow.commit()
    response.status_code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
    return ConnectOut(
        connection=ConnectionOut.of(outcome.connection),
        token_whitespace_removed=outcome.token_whitespace_removed,
        test=outcome.test.as_record(),
        import_job=JobOut.of(outcome.import_job) if outcome.import_job else None,
        replaced=_replaced(outcome.replaced),
    )


def _replaced(replaced: identity.Replaced | None) -> ReplacedOut | None:
    if replaced is None:
        return None
    retired = replaced.connection
    assert retired.retired_at is not None
    return ReplacedOut(
        connection_id=retired.id,
        retired_at=retired.retired_at,
        links_removed=[
            RemovedLinkOut(client_id=link.client_id, customer_code=link.customer_code)
            for link in replaced.links_removed
        ],
    )


async def _test(
    company_id: str,
    client_id: str | None,
    uow: UnitOfWorkDep,
    directo: DirectoDep,
    resources: ResourcesDep,
) -> TestOut:
    connection, test = await service.retest(
        uow.session,
        company_id=company_id,
        client_id=client_id,
        directo=directo,
        secrets=resources.secrets,
    )
    await uow.commit()
    return TestOut(connection=ConnectionOut.of(connection), test=test.as_record())


@router.put(
    "/companies/{company_id}/directo/connection",
    response_model=ConnectOut,
    responses=created(ConnectOut) | problems(409, 422, 503),
)
async def put_company_connection(
    company_id: CompanyId,
    body: ConnectionIn,
    uow: UnitOfWorkDep,
    directo: DirectoDep,
    resources: ResourcesDep,
    response: Response,
) -> ConnectOut:
    """Set the company's Directo token: tested, stored encrypted, then a customer import starts."""
    return await _connect(company_id, None, body, uow, directo, resources, response)


@router.get(
    "/companies/{company_id}/directo/connection",
    response_model=ConnectionOut,
    responses=problems(404, 422),
)
async def get_company_connection(company_id: CompanyId, uow: UnitOfWorkDep) -> ConnectionOut:
    return ConnectionOut.of(await service.get_connection(uow.session, company_id, None))


@router.delete(
    "/companies/{company_id}/directo/connection",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(404, 422),
)
async def delete_company_connection(company_id: CompanyId, uow: UnitOfWorkDep) -> Response:
    await service.delete_connection(uow.session, company_id, None)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/companies/{company_id}/directo/connection/test",
    response_model=TestOut,
    responses=problems(404, 422),
)
async def test_company_connection(
    company_id: CompanyId, uow: UnitOfWorkDep, directo: DirectoDep, resources: ResourcesDep
) -> TestOut:
    """Probe which feeds the stored token may use; the result is stored and returned."""
    return await _test(company_id, None, uow, directo, resources)


@router.put(
    "/companies/{company_id}/clients/{client_id}/directo/connection",
    response_model=ConnectOut,
    responses=created(ConnectOut) | problems(409, 422, 503),
)
async def put_client_connection(
    company_id: CompanyId,
    client_id: ClientId,
    body: ConnectionIn,
    uow: UnitOfWorkDep,
    directo: DirectoDep,
    resources: ResourcesDep,
    response: Response,
) -> ConnectOut:
    """Give one client its own Directo database: it overrides the company connection."""
    return await _connect(company_id, client_id, body, uow, directo, resources, response)


@router.get(
    "/companies/{company_id}/clients/{client_id}/directo/connection",
    response_model=ConnectionOut,
    responses=problems(404, 422),
)
async def get_client_connection(
    company_id: CompanyId, client_id: ClientId, uow: UnitOfWorkDep
) -> ConnectionOut:
    return ConnectionOut.of(await service.get_connection(uow.session, company_id, client_id))


@router.delete(
    "/companies/{company_id}/clients/{client_id}/directo/connection",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(404, 422),
)
async def delete_client_connection(
    company_id: CompanyId, client_id: ClientId, uow: UnitOfWorkDep
) -> Response:
    await service.delete_connection(uow.session, company_id, client_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/companies/{company_id}/clients/{client_id}/directo/connection/test",
    response_model=TestOut,
    responses=problems(404, 422),
)
async def test_client_connection(
    company_id: CompanyId,
    client_id: ClientId,
    uow: UnitOfWorkDep,
    directo: DirectoDep,
    resources: ResourcesDep,
) -> TestOut:
    return await _test(company_id, client_id, uow, directo, resources)
