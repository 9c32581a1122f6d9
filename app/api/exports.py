"""Invoice export to Directo (idempotent), its dry run, and exports with their paid status."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.api.deps import CursorsDep, ResourcesDep, UnitOfWorkDep
from app.api.pagination import CursorQuery, LimitQuery
from app.api.params import CompanyId
from app.api.responses import problems
from app.db.models import ExportStatus, InvoiceExport, PaymentStatus
from app.db.repositories import exports as export_repo
from app.errors import AppError
from app.exports import service
from app.exports.schemas import (
    ExportDetailOut,
    ExportOut,
    ExportPage,
    InvoiceIn,
    ValidationOut,
)
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


def _out(row: InvoiceExport) -> ExportOut:
    """The export as listed; its surplus comes from the paid-status rules."""
    return ExportOut.of(row, overpaid_amount=payment_record.overpaid(row))


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
    return _out(created.export)


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
    export = await service.get_export(uow.session, company_id, export_id)
    return ExportDetailOut.of(export, overpaid_amount=payment_record.overpaid(export))


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
    return ExportPage(
        items=[_out(row) for row in page],
        next_cursor=next_cursor,
    )
