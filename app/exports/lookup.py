"""What Directo holds under an export's number, and what that settles.

Read when an earlier put of the export may have reached Directo, or when Directo
answered a put "duplicate" (Type 11) or "confirmed, locked" (Type 14): Directo keeps one
invoice per number, so the feed filtered by the number says whether the export's invoice
is there (`outcomes.is_ours`), another one is, or none (`app.directo.lookups`).
"""

from __future__ import annotations

from app.db.models import InvoiceExport
from app.directo.schemas import DirectoInvoice, PutResult
from app.exports import claims, outcomes, settling
from app.jobs.runner import JobContext, JobOutcome


async def settle_found(
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
    export.put_in_doubt = False  # Directo's one invoice under the number is known now
    taken = await claims.check_found(context.session, export)
    if taken is not None:
        return await settling.failed(context, export, taken)
    row_count = len(export.request_body.get("rows", []))
    if outcomes.is_ours(
        found, customer_code=export.customer_code, net_total=export.net_total, row_count=row_count
    ):
        # Directo's docid of an invoice is its number (PROTOCOL §3.5): the one found is it.
        docid = result.docid if result is not None and result.docid else found.number
        return await settling.sent(
            context, export, docid=docid, confirmed=found.confirmed, note="found_in_directo"
        )
    return await settling.failed(
        context, export, outcomes.duplicate_problem(export.directo_number, found, result)
    )
