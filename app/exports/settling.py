"""How an export's send ends, recorded: `sent` or `failed`, with its event.

`sent` keeps Directo's docid and whether the invoice is confirmed, starts the paid status
at `unpaid` and announces `invoice.exported`. `failed` keeps the problem (code, message,
fix, Directo's words in its context), lets go of the number claim unless a put may have
reached Directo (`claims.on_failed`) and announces `invoice.export_failed`. Both only
flush: the job's transaction commits them with the job's own status.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ExportStatus, InvoiceExport, JobStatus, PaymentStatus
from app.errors import ProblemItem
from app.exports import claims
from app.jobs.runner import JobContext, JobOutcome
from app.webhooks.outbox import emit
from app.webhooks.types import EventType


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def event_payload(export: InvoiceExport) -> dict[str, Any]:
    """What `invoice.exported` / `invoice.export_failed` carry."""
    return {
        "export_id": str(export.id),
        "client_id": export.client_id,
        "invoice_number": export.uku_invoice_number,
        "directo_number": export.directo_number,
        "customer_code": export.customer_code,
        "status": export.status.value,
        "confirmed": export.confirmed,
        "directo_docid": export.directo_docid,
        "error_code": export.error_code,
        "errors": export.errors,
    }


async def sent(
    context: JobContext,
    export: InvoiceExport,
    *,
    docid: str | None,
    confirmed: bool,
    note: str,
    warnings: list[ProblemItem] | None = None,
) -> JobOutcome:
    """Mark the export `sent` (Directo holds it: nothing about it is in doubt any more)."""
    at = now()
    export.status = ExportStatus.SENT
    export.put_in_doubt = False
    export.directo_docid = docid
    export.confirmed = confirmed
    export.sent_at = at
    export.error_code = None
    export.errors = [item.model_dump(mode="json") for item in warnings or []]
    if export.payment_status is None:
        export.payment_status = PaymentStatus.UNPAID
        export.payment_status_changed_at = at
    await context.session.flush()
    await context.emit(EventType.INVOICE_EXPORTED, event_payload(export))
    return JobOutcome(counts={"sent": 1}, result={"export_id": str(export.id), "outcome": note})


async def fail_export(
    session: AsyncSession,
    export: InvoiceExport,
    problem: ProblemItem,
    *,
    callback_url: str | None,
) -> None:
    """Mark the export `failed` with `problem` and announce `invoice.export_failed`."""
    export.status = ExportStatus.FAILED
    export.error_code = problem.code
    export.errors = [problem.model_dump(mode="json")]
    export.failed_at = now()
    await session.flush()
    await claims.on_failed(session, export)
    await emit(
        session,
        company_id=export.company_id,
        type_=EventType.INVOICE_EXPORT_FAILED,
        payload=event_payload(export),
        callback_url=callback_url,
    )


async def failed(context: JobContext, export: InvoiceExport, problem: ProblemItem) -> JobOutcome:
    """Fail the export from its send job; the job ends `failed` with the problem's code."""
    await fail_export(context.session, export, problem, callback_url=context.job.callback_url)
    return JobOutcome(
        status=JobStatus.FAILED,
        counts={"failed": 1},
        errors=[{"code": problem.code, "detail": problem.message}],
        result={"export_id": str(export.id), "outcome": "failed"},
    )
