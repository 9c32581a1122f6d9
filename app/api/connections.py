"""The Directo integration switch and credentials, per company or per client (bodies:
`app.connections.schemas`)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import DirectoDep, ResourcesDep, UnitOfWorkDep
from app.api.params import ClientId, CompanyId
from app.api.responses import created, problems
from app.connections import capabilities, service
from app.connections.capabilities import Needs
from app.connections.schemas import (
    ConnectionIn,
    ConnectionOut,
    ConnectOut,
    IntegrationIn,
    IntegrationOut,
    ReplacedOut,
    TestOut,
)
from app.jobs.schemas import JobOut
from app.jobs.unit_of_work import UnitOfWork
from app.queue.names import JobName
from app.statistics.compute import feeds_of_mapping
from app.sync import imports

router = APIRouter(tags=["connections"])


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
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _needs(uow: UnitOfWork, company_id: str, client_id: str | None) -> Needs:
    """What the features configured for this connection read from Directo."""
    return await capabilities.configured_needs(
        uow.session,
        company_id=company_id,
        client_id=client_id,
        statistics_feeds=feeds_of_mapping,
    )


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
        needs=await _needs(uow, company_id, client_id),
        company_id=company_id,
        client_id=client_id,
        raw_token=body.token,
        database_code=body.database_code,
        force=body.force,
        switch_database=body.switch_database,
        directo=directo,
        secrets=resources.secrets,
    )
    import_job = None
    if outcome.test.ok:  # a working token's customers are imported at once
        import_job, created = await imports.start_import(
            uow.session, outcome.connection, imports.Feed.CUSTOMERS
        )
        if created:
            uow.enqueue_after_commit(JobName(import_job.kind), import_job.id)
    response.status_code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
    return ConnectOut(
        connection=ConnectionOut.of(outcome.connection),
        token_whitespace_removed=outcome.token_whitespace_removed,
        test=outcome.test.as_record(),
        import_job=JobOut.of(import_job) if import_job else None,
        replaced=ReplacedOut.of(outcome.replaced),
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
        needs=await _needs(uow, company_id, client_id),
        company_id=company_id,
        client_id=client_id,
        directo=directo,
        secrets=resources.secrets,
    )
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
    """Set the company's Directo token: tested, stored encrypted, then a customer import starts.

    A token replacing one whose connection holds imported data is refused (409) when it
    reaches another Directo database (`directo_database_changed`) or fails its test, so
    that cannot be checked (`directo_database_unverified`), unless `switch_database`."""
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
    """Give one client its own Directo database: it overrides the company connection.
    Replacing its token is checked as for the company's (409 `directo_database_changed`,
    `directo_database_unverified`)."""
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
