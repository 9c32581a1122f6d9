"""The shape of every event the gateway announces: its envelope and its `data`.

These models are the contract: the API describes them in the OpenAPI document's
`webhooks` section (`app/api/webhook_events.py`), and the test suite checks every event
it makes the gateway emit against that schema, so a payload that gains, loses or retypes
a field without changing its model here fails a test. `data` models forbid fields they do
not name for that reason; nested error objects allow more (they carry Directo's words).

Amounts and statistics values are exact decimal text (`"1234.50"`), never JSON numbers;
months are `YYYY-MM`; dates are ISO 8601.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.webhooks.types import EventType

JobStatusText = Literal["succeeded", "partially_failed", "failed", "interrupted"]
PaymentStatusText = Literal["unpaid", "partially_paid", "paid"]


def _month() -> Any:
    return Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-03"])


def _decimal() -> Any:
    return Field(pattern=r"^-?\d+(\.\d+)?$", examples=["1234.50"])


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Detail(BaseModel):
    """A nested problem: `code` and `message` always, more where there is more to say."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str | None = None


class CatalogueCounts(BaseModel):
    model_config = ConfigDict(extra="allow")

    read: int
    added: int
    updated: int
    unchanged: int
    marked_missing: int
    without_code: int | None = Field(None, description="records without a code, not imported")


class CatalogueImported(Payload):
    """`customers.imported` / `articles.imported`: an import of the feed finished."""

    job_id: uuid.UUID
    connection_id: uuid.UUID
    client_id: str | None = Field(description="null for the company's own connection")
    full: bool = Field(description="a full read (records not seen are marked missing)")
    counts: CatalogueCounts


class StatisticsValue(Payload):
    field_key: str
    value: str = _decimal()
    uku_field_id: str | None


class StatisticsImported(Payload):
    """`statistics.imported`: one client's month was written (the scheduled import)."""

    client_id: str
    month: str = _month()
    scope: Literal["own_connection", "linked_customer"]
    customer_code: str | None = Field(description="the linked customer (linked_customer scope)")
    values: list[StatisticsValue]
    read: Literal["first", "settle"] | None = Field(
        None, description="which read of the month this was: the first, or the one that settles it"
    )


class ReloadClientError(Detail):
    client_id: str


class ReloadCompleted(Payload):
    """`reload.completed`: a reload ended; per-client failures are in `errors`."""

    reload_id: uuid.UUID
    job_id: uuid.UUID
    status: JobStatusText
    reason: str | None = Field(description="why it ran: `requested`, `relinked` …")
    months: int
    month_from: str = _month()
    month_to: str = _month()
    clients_total: int
    clients_succeeded: int
    clients_failed: int
    errors: list[ReloadClientError]


class InvoiceExportOutcome(Payload):
    """`invoice.exported` / `invoice.export_failed`: the send of an export ended."""

    export_id: uuid.UUID
    client_id: str
    invoice_number: str = Field(description="the Uku number, e.g. INV-2026-0042")
    directo_number: int = Field(description="the number in Directo, e.g. 20260042")
    customer_code: str
    status: Literal["sent", "failed"]
    confirmed: bool
    directo_docid: str | None
    error_code: str | None
    errors: list[Detail] = Field(description="the problems (failed), or warnings (sent)")


class InvoicePayment(Payload):
    """`invoice.paid` / `invoice.payment_status_changed`: Directo's paid status of an
    exported invoice, as last read."""

    export_id: uuid.UUID
    client_id: str
    invoice_number: str
    directo_number: int
    customer_code: str
    currency: str
    payment_status: PaymentStatusText | None
    previous_payment_status: PaymentStatusText | None
    total: str | None = _decimal()
    balance: str | None = _decimal()
    paid_amount: str | None = _decimal()
    overpaid_amount: str | None = _decimal()
    paid_on: dt.date | None


class ConnectionFailed(Payload):
    """`connection.failed`: a connection turned `needs_attention` (announced once)."""

    connection_id: uuid.UUID
    scope: Literal["company", "client"]
    client_id: str | None
    token_hint: str | None = Field(description="the token's last characters, never more")
    code: str = Field(description="`unauthorized`, `token_missing`, `feed_not_activated` …")
    hint: str | None = Field(description="what to do about it")


class JobFinished(Payload):
    """`job.finished`: reserved; this version of the gateway does not send it."""

    job_id: uuid.UUID
    kind: str
    status: JobStatusText
    counts: dict[str, Any] = Field(default_factory=dict)
    errors: list[Detail] = Field(default_factory=list)


class EventEnvelope(BaseModel):
    """The delivered body (Standard Webhooks): the event id (also `webhook-id`), its type,
    the company, its gapless per-company `sequence`, when it happened, and `data`."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    company_id: str
    sequence: int = Field(ge=1)
    timestamp: dt.datetime


class CustomersImportedEvent(EventEnvelope):
    type: Literal["customers.imported"]
    data: CatalogueImported


class ArticlesImportedEvent(EventEnvelope):
    type: Literal["articles.imported"]
    data: CatalogueImported


class StatisticsImportedEvent(EventEnvelope):
    type: Literal["statistics.imported"]
    data: StatisticsImported


class ReloadCompletedEvent(EventEnvelope):
    type: Literal["reload.completed"]
    data: ReloadCompleted


class InvoiceExportedEvent(EventEnvelope):
    type: Literal["invoice.exported"]
    data: InvoiceExportOutcome


class InvoiceExportFailedEvent(EventEnvelope):
    type: Literal["invoice.export_failed"]
    data: InvoiceExportOutcome


class InvoicePaidEvent(EventEnvelope):
    type: Literal["invoice.paid"]
    data: InvoicePayment


class InvoicePaymentStatusChangedEvent(EventEnvelope):
    type: Literal["invoice.payment_status_changed"]
    data: InvoicePayment


class ConnectionFailedEvent(EventEnvelope):
    type: Literal["connection.failed"]
    data: ConnectionFailed


class JobFinishedEvent(EventEnvelope):
    type: Literal["job.finished"]
    data: JobFinished


EVENT_MODELS: dict[EventType, type[EventEnvelope]] = {
    EventType.CUSTOMERS_IMPORTED: CustomersImportedEvent,
    EventType.ARTICLES_IMPORTED: ArticlesImportedEvent,
    EventType.STATISTICS_IMPORTED: StatisticsImportedEvent,
    EventType.RELOAD_COMPLETED: ReloadCompletedEvent,
    EventType.INVOICE_EXPORTED: InvoiceExportedEvent,
    EventType.INVOICE_EXPORT_FAILED: InvoiceExportFailedEvent,
    EventType.INVOICE_PAID: InvoicePaidEvent,
    EventType.INVOICE_PAYMENT_STATUS_CHANGED: InvoicePaymentStatusChangedEvent,
    EventType.CONNECTION_FAILED: ConnectionFailedEvent,
    EventType.JOB_FINISHED: JobFinishedEvent,
}
