"""Invoice export to Directo (idempotent), its dry run, and exports with their paid status."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, Field

from app.api.deps import CursorsDep, ResourcesDep, UnitOfWorkDep
from app.api.pagination import CursorQuery, LimitQuery
from app.api.params import CompanyId
from app.api.responses import problems
from app.db.models import ExportStatus, InvoiceExport, PaymentStatus
from app.db.repositories import exports as export_repo
from app.errors import AppError
from app.exports import service
from app.exports.schemas import InvoiceIn
from app.payments import record as payment_record
from app.queue.names import JobName
from app.webhooks.service import check_target

router = APIRouter(tags=["invoice export"])
_PAGE = "exports"  # the list's name in its cursors

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description=(
            "Required. A unique key per invoice export (e.g. a UUID): a retried request with "
            "the same key and body returns the first export and sends nothing again"
        ),
    ),
]


class ExportError(BaseModel):
    code: str
    message: str
    fix: str | None = None
    loc: list[str | int] = Field(default_factory=list)
    context: dict[str, Any] | None = None


class PaymentOut(BaseModel):
    status: PaymentStatus | None = Field(description="unpaid, partially_paid or paid")
    total: Decimal | None = Field(description="Invoice total with VAT, as Directo has it")
    balance: Decimal | None = Field(description="Outstanding amount")
    paid_amount: Decimal | None
    overpaid_amount: Decimal | None = Field(
        description=(
            "Received beyond the total of a positive invoice (its balance below zero; the "
            "invoice counts as paid); 0 otherwise, null until Directo was read"
        )
    )
    paid_on: dt.date | None = Field(
        description=(
            "Date of the confirmed receipt that settled it, else the day (Europe/Tallinn) "
            "it was first read as paid"
        )
    )
    checked_at: dt.datetime | None = Field(description="Last read from Directo")
    changed_at: dt.datetime | None


class ExportOut(BaseModel):
    id: uuid.UUID
    company_id: str
    client_id: str
    connection_id: uuid.UUID | None
    invoice_number: str = Field(description="The Uku invoice number")
    directo_number: int = Field(description="The number in Directo (the digits of the Uku one)")
    customer_code: str
    currency: str
    net_total: Decimal = Field(description="Sum of the rows without VAT, as sent")
    status: ExportStatus = Field(
        description="queued → sending → sent | failed (`sending`: a put may be under way)"
    )
    confirmed: bool = Field(description="Confirmed in Directo (false: a draft)")
    directo_docid: str | None
    directo_result_type: int | None = Field(description="Type of Directo's last answer")
    directo_result_desc: str | None = Field(description="Desc of Directo's last answer")
    error_code: str | None
    errors: list[ExportError]
    attempts: int = Field(description="Puts sent to Directo")
    job_id: uuid.UUID | None
    payment: PaymentOut
    created_at: dt.datetime
    updated_at: dt.datetime
    last_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    failed_at: dt.datetime | None

    @classmethod
    def of(cls, row: InvoiceExport) -> ExportOut:
        return cls(**_fields(row))


class ExportDetailOut(ExportOut):
    xml_sent: str | None = Field(description="The XML put into Directo")
    xml_received: str | None = Field(description="Directo's answer")

    @classmethod
    def of(cls, row: InvoiceExport) -> ExportDetailOut:
        return cls(**_fields(row), xml_sent=row.xml_sent, xml_received=row.xml_received)


def _fields(row: InvoiceExport) -> dict[str, Any]:
    return {
        "id": row.id,
        "company_id": row.company_id,
        "client_id": row.client_id,
        "connection_id": row.connection_id,
        "invoice_number": row.uku_invoice_number,
        "directo_number": row.directo_number,
        "customer_code": row.customer_code,
        "currency": row.currency,
        "net_total": row.net_total,
        "status": row.status,
        "confirmed": row.confirmed,
        "directo_docid": row.directo_docid,
        "directo_result_type": row.result_type,
        "directo_result_desc": row.result_desc,
        "error_code": row.error_code,
        "errors": [ExportError.model_validate(item) for item in row.errors],
        "attempts": row.attempts,
        "job_id": row.job_id,
        "payment": PaymentOut(
            status=row.payment_status,
            total=row.total,
            balance=row.balance,
            paid_amount=row.paid_amount,
            overpaid_amount=payment_record.overpaid(row),
            paid_on=row.paid_on,
            checked_at=row.payment_checked_at,
            changed_at=row.payment_status_changed_at,
        ),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "last_attempt_at": row.last_attempt_at,
        "sent_at": row.sent_at,
        "failed_at": row.failed_at,
    }


class ExportPage(BaseModel):
    items: list[ExportOut]
    next_cursor: str | None


class ValidationOut(BaseModel):
    valid: bool = Field(description="Always true: an invalid invoice answers 422")
    directo_number: int
    customer_code: str
    payment_term_days: int
    payment_term: str = Field(
        description="What `paymentterm` carries: the connection's code for the days, else the days"
    )
    seller: str | None = Field(description="The invoice header's salesman code")
    confirm: bool = Field(description="Sent with confirm=1 (auto-confirm is on)")
    net_total: Decimal
    xml: str = Field(description="The Directo XML that would be put")


def _require_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise AppError(
            "idempotency_key_required",
            "Invoice exports must be retry-safe: send an Idempotency-Key header with a unique "
            "value per invoice (e.g. a UUID), and the same value when retrying.",
            status=400,
        )
    if not key.isascii() or not key.isprintable():
        raise AppError(
            "idempotency_key_invalid",
            "The Idempotency-Key header must be printable ASCII (e.g. a UUID).",
            status=400,
        )
    return key.strip()


@router.post(
    "/companies/{company_id}/directo/invoices",
    response_model=ExportOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(400, 404, 409, 422),
)
async def export_invoice(
    company_id: CompanyId,
    body: InvoiceIn,
    uow: UnitOfWorkDep,
    resources: ResourcesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ExportOut:
    """Validate the invoice, record the export and queue its send to Directo.

    The same `Idempotency-Key` with the same body answers the same export (header
    `Idempotent-Replayed: true`) and sends nothing again; with another body it is a 422.
    A request without the header is refused (400). Until the integration's
    `invoice_export_enabled` is on, this answers 409.
    """
    key = _require_key(idempotency_key)
    if body.callback_url:
        await check_target(body.callback_url, resources.settings.webhooks)
    created = await service.create_export(uow.session, company_id, body, idempotency_key=key)
    if created.job is not None:
        uow.enqueue_after_commit(JobName.INVOICE_EXPORT, created.job.id)
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return ExportOut.of(created.export)


@router.post(
    "/companies/{company_id}/directo/invoices/validate",
    response_model=ValidationOut,
    responses=problems(404, 409, 422),
)
async def validate_invoice(
    company_id: CompanyId, body: InvoiceIn, uow: UnitOfWorkDep
) -> ValidationOut:
    """Dry run: every check of an export, and the Directo XML that would be sent. Sends
    and records nothing; an invalid invoice answers 422 with every problem."""
    validated = await service.validate(uow.session, company_id, body)
    document = validated.prepared.document
    return ValidationOut(
        valid=True,
        directo_number=document.number,
        customer_code=validated.target.customer_code,
        payment_term_days=validated.prepared.payment_term_days,
        payment_term=document.paymentterm or "",
        seller=document.salesman,
        confirm=document.confirm,
        net_total=validated.prepared.net_total,
        xml=validated.prepared.xml,
    )


@router.get(
    "/companies/{company_id}/directo/invoices/{export_id}",
    response_model=ExportDetailOut,
    responses=problems(404, 422),
)
async def get_export(
    company_id: CompanyId, export_id: uuid.UUID, uow: UnitOfWorkDep
) -> ExportDetailOut:
    """One export: its status, Directo's answer, the XML both ways, and its paid status."""
    return ExportDetailOut.of(await service.get_export(uow.session, company_id, export_id))


@router.get(
    "/companies/{company_id}/directo/invoices",
    response_model=ExportPage,
    responses=problems(422),
)
async def list_exports(
    company_id: CompanyId,
    uow: UnitOfWorkDep,
    cursors: CursorsDep,
    status_: Annotated[ExportStatus | None, Query(alias="status")] = None,
    payment_status: PaymentStatus | None = None,
    paid_since: Annotated[
        dt.date | None, Query(description="Paid invoices whose paid date is on or after this")
    ] = None,
    client_id: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    ] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> ExportPage:
    """The company's exports, newest first, filtered by status, payment status, paid date
    or client."""
    rows = await export_repo.list_exports(
        uow.session,
        company_id,
        status=status_,
        payment_status=payment_status,
        paid_since=paid_since,
        client_id=client_id,
        after=cursors.read_row(_PAGE, cursor),
        limit=limit + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = cursors.after_row(_PAGE, page[-1].created_at, page[-1].id) if more else None
    return ExportPage(items=[ExportOut.of(row) for row in page], next_cursor=next_cursor)
