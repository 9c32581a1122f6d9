"""The webhooks the gateway sends, described for the OpenAPI document (`app.webhooks`).

Each operation is one event type: its request body is what the gateway POSTs to a
registered endpoint (and to a job's `callback_url`), signed as Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`). Nothing here is served: FastAPI
only documents these routes. The models live in `app/webhooks/payloads.py`.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from fastapi.routing import APIRoute

from app.webhooks import payloads

_ANSWER = {
    "description": (
        "Any 2xx acknowledges the delivery. Other answers are retried after 5 s, 5 min, "
        "30 min, 2 h, 5 h, 10 h and 10 h (Retry-After honoured on 429/503); 410 Gone "
        "disables the endpoint. Deduplicate on webhook-id."
    )
}


def _operation_id(route: APIRoute) -> str:
    return f"webhook_{route.name}"


router = APIRouter(
    tags=["webhooks"],
    responses={200: _ANSWER},
    default_response_class=Response,
    generate_unique_id_function=_operation_id,
)


@router.post("customers.imported")
def customers_imported(body: payloads.CustomersImportedEvent) -> None:
    """A customer import finished (first import after connecting, scheduled refresh)."""


@router.post("articles.imported")
def articles_imported(body: payloads.ArticlesImportedEvent) -> None:
    """An article (item) import finished."""


@router.post("statistics.imported")
def statistics_imported(body: payloads.StatisticsImportedEvent) -> None:
    """The scheduled import wrote one client's month of work statistics."""


@router.post("reload.completed")
def reload_completed(body: payloads.ReloadCompletedEvent) -> None:
    """A reload (back-fill of months) ended: counts and each failed client's error."""


@router.post("invoice.exported")
def invoice_exported(body: payloads.InvoiceExportedEvent) -> None:
    """Directo holds the exported invoice."""


@router.post("invoice.export_failed")
def invoice_export_failed(body: payloads.InvoiceExportFailedEvent) -> None:
    """The export failed: the code, and each problem with its fix."""


@router.post("invoice.paid")
def invoice_paid(body: payloads.InvoicePaidEvent) -> None:
    """An exported invoice became paid (sent once per export)."""


@router.post("invoice.payment_status_changed")
def invoice_payment_status_changed(body: payloads.InvoicePaymentStatusChangedEvent) -> None:
    """An exported invoice's paid status changed (old → new)."""


@router.post("connection.failed")
def connection_failed(body: payloads.ConnectionFailedEvent) -> None:
    """A connection needs attention (token revoked, a feed the product needs refused)."""


@router.post("job.finished")
def job_finished(body: payloads.JobFinishedEvent) -> None:
    """Reserved: this version of the gateway does not send it."""
