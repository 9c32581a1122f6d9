"""Webhook endpoints and deliveries, failing ones first, each with a redeliver button."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.console import audit
from app.console.deps import CheckedFormDep, ConsoleNotFound, OperatorDep, PagesDep, WorkDep
from app.console.jobs import parse_id
from app.db.repositories import overview
from app.db.repositories import webhooks as webhook_repo
from app.errors import NotFound
from app.webhooks import service
from app.webhooks.schemas import DeliveryOut, EndpointOut

router = APIRouter()


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks(
    request: Request,
    pages: PagesDep,
    session: OperatorDep,
    work: WorkDep,
    redelivered: str | None = None,
) -> HTMLResponse:
    endpoints = await overview.endpoints(work.session)
    rows = await overview.deliveries_failing_first(work.session)
    attempts = await webhook_repo.attempts_of(work.session, [row[0].id for row in rows])
    deliveries = [
        (delivery.company_id, endpoint, DeliveryOut.of(delivery, event, attempts[delivery.id]))
        for delivery, event, endpoint in rows
    ]
    return pages.render(
        request,
        "webhooks.html",
        session=session,
        endpoints=[(row.company_id, EndpointOut.of(row)) for row in endpoints],
        deliveries=deliveries,
        redelivered=redelivered,
    )


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_class=HTMLResponse)
async def redeliver(
    delivery_id: str,
    request: Request,
    session: OperatorDep,
    work: WorkDep,
    _form: CheckedFormDep,
) -> Response:
    """Send the delivery again now, as `POST /v1/webhook-deliveries/{id}/redeliver` does."""
    assert session.operator is not None
    what = f"webhook delivery {delivery_id}"
    try:
        delivery = await service.redeliver(work.session, parse_id(delivery_id, what))
    except NotFound as exc:
        raise ConsoleNotFound(what) from exc
    await work.commit()
    audit.action(
        request,
        session.operator,
        "webhook.redeliver",
        company_id=delivery.company_id,
        delivery_id=str(delivery.id),
    )
    return RedirectResponse(
        f"/ops/webhooks?redelivered={delivery.id}", status_code=status.HTTP_303_SEE_OTHER
    )
