"""The `invoice_export` job: put one export's XML into Directo, exactly once.

**Exactly once, on the Directo side.** Before the put the export is marked `sending`
and that is committed; so whenever a run finds an export already `sending`, an earlier
put may have reached Directo (a timeout after sending, a dropped answer, a worker killed
between put and record). Such a run first reads Directo's invoice feed filtered by the
number: an invoice that `is_ours` (same customer and net total) makes the export `sent`
without another put — unless another Uku number holds or sent that Directo number
(`claims.check_found`), which fails it with `invoice_number_taken`; another invoice under
the number fails it with `duplicate_number`; no invoice means the put never landed, and
it is sent again. Directo answering a put with Type 11 (duplicate) or 14 (confirmed,
locked) is handled the same way. A failed export releases its number (`claims.on_failed`).

Outcomes: Type 0/30 → `sent` (draft, or confirmed when `confirm="1"` was sent), docid
kept; a failing Type → `failed` with the code of `outcomes.problem_for`, Directo's
Type/Desc kept; `unauthorized` also marks the connection `needs_attention`. Transport
failures and unknown outcomes are retried by the runner (a retry looks up first); if
the job ends without settling the export, `on_send_failure` leaves a `sending` export
for the recovery sweep (`recovery.py`) and fails a `queued` one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import health
from app.connections.service import credentials_of
from app.db.models import ExportStatus, InvoiceExport, Job, JobStatus, PaymentStatus
from app.db.repositories import connections as connection_repo
from app.db.repositories import exports as export_repo
from app.directo.client import DirectoClient
from app.directo.codec import parse_document
from app.directo.credentials import DirectoCredentials
from app.directo.errors import DirectoAuthError, DirectoError, DirectoOutcomeUnknown
from app.directo.schemas import DirectoInvoice, PutResult, PutResultKind
from app.errors import ProblemItem
from app.exports import claims, outcomes
from app.jobs.runner import JobContext, JobFailed, JobOutcome, RetryableJobError
from app.webhooks.outbox import emit
from app.webhooks.types import EventType

# Puts of one export, all told; a `sending` export that has run out of them fails.
MAX_PUTS = 5
# Job failures recorded on a `sending` export before the recovery sweep gives up on it.
MAX_RECOVERIES = 10
_RELOOKUP_KINDS = frozenset({PutResultKind.DUPLICATE, PutResultKind.CONFIRMED_LOCKED})


def _now() -> dt.datetime:
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


async def find_invoice(
    directo: DirectoClient, creds: DirectoCredentials, number: int
) -> DirectoInvoice | None:
    """The invoice Directo holds under `number`, or None (raises `DirectoError`)."""
    async with contextlib.aclosing(
        directo.iter_invoices(creds, number=number, batch_size=50)
    ) as batches:
        async for batch in batches:
            for invoice in batch:
                if invoice.number.strip() == str(number):
                    return invoice
    return None


def _as_put(export: InvoiceExport) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The invoice header and rows as put (`paymentterm`; item, vatcode, object …)."""
    if not export.xml_sent:
        return {}, []
    for document in parse_document(export.xml_sent).iter("invoice"):
        rows = [row.attrs for rows in document.iter("rows") for row in rows.children]
        return document.attrs, rows
    return {}, []


def _ours(export: InvoiceExport, found: DirectoInvoice) -> bool:
    return outcomes.is_ours(
        found,
        customer_code=export.customer_code,
        net_total=export.net_total,
        row_count=len(export.request_body.get("rows", [])),
    )


async def _sent(
    context: JobContext,
    export: InvoiceExport,
    *,
    docid: str | None,
    confirmed: bool,
    note: str,
    warnings: list[ProblemItem] | None = None,
) -> JobOutcome:
    now = _now()
    export.status = ExportStatus.SENT
    export.directo_docid = docid
    export.confirmed = confirmed
    export.sent_at = now
    export.error_code = None
    export.errors = [item.model_dump(mode="json") for item in warnings or []]
    if export.payment_status is None:
        export.payment_status = PaymentStatus.UNPAID
        export.payment_status_changed_at = now
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
    export.failed_at = _now()
    await session.flush()
    await claims.on_failed(session, export)
    await emit(
        session,
        company_id=export.company_id,
        type_=EventType.INVOICE_EXPORT_FAILED,
        payload=event_payload(export),
        callback_url=callback_url,
    )


async def _failed(context: JobContext, export: InvoiceExport, problem: ProblemItem) -> JobOutcome:
    await fail_export(context.session, export, problem, callback_url=context.job.callback_url)
    return JobOutcome(
        status=JobStatus.FAILED,
        counts={"failed": 1},
        errors=[{"code": problem.code, "detail": problem.message}],
        result={"export_id": str(export.id), "outcome": "failed"},
    )


async def _settle_found(
    context: JobContext,
    export: InvoiceExport,
    found: DirectoInvoice | None,
    result: PutResult | None,
) -> JobOutcome | None:
    """Settle the export from what Directo holds under its number (None: holds nothing).

    The invoice found is this export's only if no other Uku number holds or sent the
    number (amounts and customer alike prove nothing: two Uku invoices may match both).
    """
    if found is None:
        return None
    taken = await claims.check_found(context.session, export)
    if taken is not None:
        return await _failed(context, export, taken)
    if _ours(export, found):
        # Directo's docid of an invoice is its number (PROTOCOL §3.5): the one found is it.
        docid = result.docid if result is not None and result.docid else found.number
        return await _sent(
            context, export, docid=docid, confirmed=found.confirmed, note="found_in_directo"
        )
    return await _failed(
        context, export, outcomes.duplicate_problem(export.directo_number, found, result)
    )


async def _put(
    context: JobContext, export: InvoiceExport, directo: DirectoClient, creds: DirectoCredentials
) -> JobOutcome:
    export.status = ExportStatus.SENDING
    export.attempts += 1
    export.last_attempt_at = _now()
    # Committed before the put: from here on a crash is recovered by a lookup, never a resend.
    await context.checkpoint()
    try:
        results = await directo.put(creds, "invoice", export.xml_sent or "")
    except DirectoOutcomeUnknown as unknown:
        raise RetryableJobError(unknown.code, unknown.message) from None
    except DirectoError as error:
        if error.retryable or isinstance(error, DirectoAuthError):
            raise
        # Directo refused the whole request (it answered, and stored nothing).
        problem = ProblemItem(code=error.code, message=error.message, fix=error.hint)
        return await _failed(context, export, problem)
    if not results:
        raise RetryableJobError("outcome_unknown", "Directo answered the put with no result")
    result = results[0]
    export.xml_received = outcomes.answer_xml(results)
    export.result_type, export.result_desc = result.type, result.desc
    if result.ok:
        return await _sent(
            context, export, docid=result.docid, confirmed=export.confirmed, note="created"
        )
    if result.kind is PutResultKind.NOT_CONFIRMED:
        warning = outcomes.problem_for(result)
        return await _sent(
            context, export, docid=result.docid, confirmed=False, note="created_unconfirmed",
            warnings=[warning],
        )  # fmt: skip
    if result.kind in _RELOOKUP_KINDS:
        found = await find_invoice(directo, creds, export.directo_number)
        settled = await _settle_found(context, export, found, result)
        if settled is not None:
            return settled
        return await _failed(
            context, export, outcomes.duplicate_problem(export.directo_number, None, result)
        )
    if result.kind is PutResultKind.UNAUTHORIZED:
        raise DirectoAuthError(result.desc or "Unauthorized")
    header, rows = _as_put(export)
    problem = outcomes.problem_for(result, rows, paymentterm=header.get("paymentterm"))
    return await _failed(context, export, problem)


async def _send(
    context: JobContext, export: InvoiceExport, directo: DirectoClient, creds: DirectoCredentials
) -> JobOutcome:
    if export.status is ExportStatus.SENDING:
        # An earlier put may have landed: ask Directo before sending anything.
        found = await find_invoice(directo, creds, export.directo_number)
        settled = await _settle_found(context, export, found, None)
        if settled is not None:
            return settled
        if export.attempts >= MAX_PUTS:
            return await _failed(
                context,
                export,
                ProblemItem(
                    code="directo_unavailable",
                    message=f"Directo did not take the invoice in {export.attempts} attempts.",
                    fix="Check that Directo is reachable, then export again with a new key.",
                ),
            )
    return await _put(context, export, directo, creds)


async def _report(context: JobContext, connection_id: uuid.UUID, error: DirectoError) -> None:
    """Record a Directo failure on the connection in its own transaction (the job's own
    work may be rolled back)."""
    async with context.resources.sessionmaker() as session, session.begin():
        await health.report(session, connection_id, error_code=error.code, hint=error.hint)


async def send_export(context: JobContext) -> JobOutcome:
    """The `invoice_export` job (see the module docstring). Idempotent: a settled export
    is left as it is."""
    session = context.session
    export = await export_repo.get_export(
        session, uuid.UUID(str(context.params["export_id"])), for_update=True
    )
    if export is None:
        raise JobFailed("export_missing", "The invoice export of this job no longer exists.")
    if export.status in {ExportStatus.SENT, ExportStatus.FAILED}:
        return JobOutcome(result={"export_id": str(export.id), "outcome": export.status.value})
    connection = None
    if export.connection_id is not None:
        connection = await connection_repo.get_connection_by_id(session, export.connection_id)
    if connection is None:
        return await _failed(
            context,
            export,
            ProblemItem(
                code="directo_not_connected",
                message="The Directo connection this invoice was exported through was removed.",
                fix="Connect Directo again, then export the invoice with a new key.",
            ),
        )
    directo = context.resources.directo
    creds = credentials_of(connection, context.resources.secrets)
    try:
        outcome = await _send(context, export, directo, creds)
    except DirectoAuthError as error:
        await health.report(session, connection.id, error_code=error.code, hint=error.hint)
        problem = ProblemItem(
            code="unauthorized", message=f"Directo refused the token: {error.message}",
            fix=error.hint,
        )  # fmt: skip
        return await _failed(context, export, problem)
    except DirectoError as error:
        await _report(context, connection.id, error)
        raise
    await health.report(session, connection.id, error_code=None)
    return outcome


async def on_send_failure(session: AsyncSession, job: Job, code: str, detail: str) -> None:
    """The send job ended `failed` without settling its export (runs in that transaction).

    A `queued` export never reached Directo: it fails with the job's code. A `sending`
    one may have: it stays `sending`, with the error noted, for the recovery sweep to
    look up — unless it has failed that way `MAX_RECOVERIES` times.
    """
    export_id = job.params.get("export_id")
    if export_id is None:
        return
    export = await export_repo.get_export(session, uuid.UUID(str(export_id)), for_update=True)
    if export is None or export.status in {ExportStatus.SENT, ExportStatus.FAILED}:
        return
    noted = {"code": code, "message": detail, "at": _now().isoformat()}
    if export.status is ExportStatus.QUEUED or len(export.errors) + 1 >= MAX_RECOVERIES:
        unknown = export.status is ExportStatus.SENDING
        await fail_export(
            session,
            export,
            ProblemItem(
                code="outcome_unknown" if unknown else code,
                message=detail,
                fix=(
                    f"Check in Directo whether invoice {export.directo_number} exists; if not, "
                    "export again with a new key."
                    if unknown
                    else "Try the export again later with a new key."
                ),
            ),
            callback_url=job.callback_url,
        )
        return
    export.errors = [*export.errors, noted]
    await session.flush()
