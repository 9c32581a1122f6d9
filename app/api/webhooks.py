"""Webhook endpoints, their delivery log, redelivery, the event catch-up feed, and the
per-company callback secret."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.deps import CursorsDep, ResourcesDep, UnitOfWorkDep
from app.api.pagination import CursorQuery, LimitQuery
from app.api.params import CompanyId
from app.api.responses import problems
from app.db.models import (
    Event,
)
from app.db.repositories import events as event_repo
from app.db.repositories import webhooks as webhook_repo
from app.errors import NotFound
from app.webhooks import service
from app.webhooks.outbox import envelope
from app.webhooks.schemas import (
    CallbackSecretOut,
    DeliveryOut,
    DeliveryPage,
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EventOut,
    EventPage,
)

router = APIRouter(tags=["webhooks"])
_DELIVERIES = "deliveries"  # the list's name in its cursors


@router.post(
    "/companies/{company_id}/webhook-endpoints",
    response_model=EndpointCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problems(422),
)
async def create_endpoint(
    company_id: CompanyId, body: EndpointIn, uow: UnitOfWorkDep, resources: ResourcesDep
) -> EndpointCreated:
    """Register an endpoint. Its signing secret is in this response only."""
    endpoint, secret = await service.create_endpoint(
        uow.session,
        company_id=company_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        settings=resources.settings.webhooks,
        secrets=resources.secrets,
    )
    return EndpointCreated(**EndpointOut.of(endpoint).model_dump(), secret=secret)


@router.get(
    "/companies/{company_id}/webhook-endpoints",
    response_model=EndpointList,
    responses=problems(422),
)
async def list_endpoints(company_id: CompanyId, uow: UnitOfWorkDep) -> EndpointList:
    endpoints = await webhook_repo.list_endpoints(uow.session, company_id)
    return EndpointList(items=[EndpointOut.of(endpoint) for endpoint in endpoints])


@router.get(
    "/companies/{company_id}/webhook-endpoints/{endpoint_id}",
    response_model=EndpointOut,
    responses=problems(404, 422),
)
async def get_endpoint(
    company_id: CompanyId, endpoint_id: uuid.UUID, uow: UnitOfWorkDep
) -> EndpointOut:
    endpoint = await webhook_repo.get_endpoint(uow.session, company_id, endpoint_id)
    if endpoint is None:
        raise NotFound("webhook endpoint")
    return EndpointOut.of(endpoint)


@router.delete(
    "/companies/{company_id}/webhook-endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(404, 422),
)
async def delete_endpoint(
    company_id: CompanyId, endpoint_id: uuid.UUID, uow: UnitOfWorkDep
) -> Response:
    """Stop deliveries to the endpoint; its delivery log stays readable."""
    await service.delete_endpoint(uow.session, company_id=company_id, endpoint_id=endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/companies/{company_id}/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    responses=problems(404, 422),
)
async def list_deliveries(
    company_id: CompanyId,
    endpoint_id: uuid.UUID,
    uow: UnitOfWorkDep,
    cursors: CursorsDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> DeliveryPage:
    """The endpoint's deliveries, newest first, each with its attempts."""
    endpoint = await webhook_repo.get_endpoint(uow.session, company_id, endpoint_id)
    if endpoint is None:
        raise NotFound("webhook endpoint")
    before = cursors.read_row(_DELIVERIES, cursor)
    rows = await webhook_repo.deliveries_page(uow.session, endpoint.id, before=before, limit=limit)
    attempts = await webhook_repo.attempts_of(uow.session, [delivery.id for delivery, _ in rows])
    next_cursor = None
    if len(rows) == limit:
        last = rows[-1][0]
        next_cursor = cursors.after_row(_DELIVERIES, last.created_at, last.id)
    return DeliveryPage(
        items=[DeliveryOut.of(delivery, event, attempts[delivery.id]) for delivery, event in rows],
        next_cursor=next_cursor,
    )


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(404, 422),
)
async def redeliver(delivery_id: uuid.UUID, uow: UnitOfWorkDep) -> DeliveryOut:
    """Send the delivery's event again now (same webhook-id, so receivers can deduplicate)."""
    delivery = await service.redeliver(uow.session, delivery_id)
    event = await uow.session.get(Event, delivery.event_id)
    assert event is not None
    attempts = await webhook_repo.attempts_of(uow.session, [delivery.id])
    return DeliveryOut.of(delivery, event, attempts[delivery.id])


@router.get("/companies/{company_id}/events", response_model=EventPage, responses=problems(422))
async def list_events(
    company_id: CompanyId,
    uow: UnitOfWorkDep,
    after_sequence: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: LimitQuery = 100,
) -> EventPage:
    """Events with a sequence above `after_sequence`, oldest first: catch up after a gap."""
    events = await event_repo.events_after(
        uow.session, company_id, after_sequence=after_sequence, limit=limit
    )
    items = [EventOut.model_validate(envelope(event)) for event in events]
    return EventPage(
        items=items, next_after_sequence=events[-1].sequence if events else after_sequence
    )


@router.post(
    "/companies/{company_id}/callback-secret/reveal",
    response_model=CallbackSecretOut,
    responses=problems(409, 422),
)
async def reveal_callback_secret(
    company_id: CompanyId, uow: UnitOfWorkDep, resources: ResourcesDep
) -> CallbackSecretOut:
    """The secret that signs per-request callbacks, created on first use; shown once."""
    secret = await service.reveal_callback_secret(uow.session, company_id, resources.secrets)
    return CallbackSecretOut(secret=secret)


@router.post(
    "/companies/{company_id}/callback-secret/rotate",
    response_model=CallbackSecretOut,
    responses=problems(422),
)
async def rotate_callback_secret(
    company_id: CompanyId, uow: UnitOfWorkDep, resources: ResourcesDep
) -> CallbackSecretOut:
    """Replace the callback secret; the new one is shown in this response only."""
    secret = await service.rotate_callback_secret(uow.session, company_id, resources.secrets)
    return CallbackSecretOut(secret=secret)
