"""The `invoice_export` job: put one export's XML into Directo, exactly once.

**Exactly once, on the Directo side.** Before each put the export is marked `sending`
with `put_in_doubt` set, and that is committed: from then on, until Directo's answer or
a look-up says what became of the put, Directo may hold the invoice. A run that finds
an export already `sending` first reads Directo's invoice feed filtered by the number: an
invoice that `is_ours` (same customer and net total) makes the export `sent` without
another put — unless another Uku number holds or sent that Directo number
(`claims.check_found`), which fails it with `invoice_number_taken`; another invoice under
the number fails it with `duplicate_number`; no invoice means no put landed, and it is
sent again (up to `MAX_PUTS`). Directo answering a put with Type 11 (duplicate) or 14
(confirmed, locked) is looked up the same way.

**Answers.** Type 0/30 → `sent` (draft, or confirmed when `confirm="1"` was sent), docid
kept; a failing Type → `failed` with the code of `outcomes.problem_for`, Directo's
Type/Desc kept. An answer in words only (an error text, no Type) says Directo has
finished with the put but not what it did: the number is looked up at once, and when
Directo holds nothing the export fails `directo_refused` with Directo's words — it is
never put again. Only transport-level unknowns (a timeout, a dropped or unreadable
answer) are retried by the runner, each retry looking up first.

**Refusals.** A token or feed refused while Directo may hold the invoice decides
nothing: the connection's health records it, the job fails, and the export stays
`sending` for the recovery sweep to look up once Directo answers again (`recovery.py`;
`on_send_failure` gives up after `MAX_RECOVERIES`, as `outcome_unknown`, the number still
claimed). Otherwise an export refused by Directo fails: `feed_not_activated` when the key
works but lacks invoices in or out (the connection turns `degraded`), else `unauthorized`
(the connection needs attention). A failed export lets go of its number only when no put
of it is in doubt (`claims.on_failed`).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import health
from app.connections.capabilities import Feature, Work, explain_refusal, missing_feeds
from app.connections.service import credentials_of
from app.db.models import ExportStatus, InvoiceExport, Job
from app.db.repositories import connections as connection_repo
from app.db.repositories import exports as export_repo
from app.directo.budget import Priority
from app.directo.capability_probe import Capability, DirectoFeedNotActivated
from app.directo.client import DirectoClient
from app.directo.codec import parse_document
from app.directo.credentials import DirectoCredentials
from app.directo.errors import (
    DirectoAuthError,
    DirectoError,
    DirectoOutcomeUnknown,
    DirectoUnauthorized,
)
from app.directo.lookups import find_invoice
from app.directo.schemas import PutResultKind
from app.errors import ProblemItem
from app.exports import lookup, outcomes, settling
from app.jobs.runner import Failure, JobContext, JobFailed, JobOutcome, RetryableJobError

# Puts of one export, all told; a `sending` export that has run out of them fails.
MAX_PUTS = 5
# Job failures recorded on a `sending` export before the recovery sweep gives up on it.
MAX_RECOVERIES = 10
# What invoice export needs of the key: putting invoices, and reading them by number.
EXPORT_NEEDS = (Capability.INVOICES_IN, Capability.INVOICES_OUT)
_RELOOKUP_KINDS = frozenset({PutResultKind.DUPLICATE, PutResultKind.CONFIRMED_LOCKED})


def _as_put(export: InvoiceExport) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The invoice header and rows as put (`paymentterm`; item, vatcode, object …)."""
    if not export.xml_sent:
        return {}, []
    for document in parse_document(export.xml_sent).iter("invoice"):
        rows = [row.attrs for rows in document.iter("rows") for row in rows.children]
        return document.attrs, rows
    return {}, []


def _words_only(export: InvoiceExport) -> str | None:
    """Directo's words when it answered the last put with an error text and no Type
    (each put clears the answer fields first)."""
    return export.result_desc if export.result_type is None and export.result_desc else None


async def _look_up(
    context: JobContext, export: InvoiceExport, directo: DirectoClient, creds: DirectoCredentials
) -> JobOutcome:
    """Settle an export whose put may have reached Directo by what Directo holds."""
    found = await find_invoice(directo, creds, export.directo_number)
    settled = await lookup.settle_found(context, export, found, None)
    if settled is not None:
        return settled
    # Directo holds nothing under the number: no put of this export was stored.
    export.put_in_doubt = False
    words = _words_only(export)
    if words is not None:  # Directo refused it in words: putting it again would not help
        return await settling.failed(context, export, outcomes.refused_in_words(words))
    if export.attempts >= MAX_PUTS:
        return await settling.failed(
            context,
            export,
            ProblemItem(
                code="directo_unavailable",
                message=f"Directo did not take the invoice in {export.attempts} attempts.",
                fix="Check that Directo is reachable, then export again with a new key.",
            ),
        )
    return await _put(context, export, directo, creds)


async def _put(
    context: JobContext, export: InvoiceExport, directo: DirectoClient, creds: DirectoCredentials
) -> JobOutcome:
    export.status = ExportStatus.SENDING
    export.attempts += 1
    export.last_attempt_at = settling.now()
    export.put_in_doubt = True
    export.xml_received = export.result_desc = export.result_type = None  # this put's, below
    # Committed before the put: from here on a crash is recovered by a lookup, never a resend.
    await context.checkpoint()
    try:
        results = await directo.put(creds, "invoice", export.xml_sent or "")
    except DirectoOutcomeUnknown as unknown:
        if unknown.directo_text is None:  # no answer to go by: the runner retries, looking up
            raise RetryableJobError(unknown.code, unknown.message) from None
        export.result_desc = unknown.directo_text
        await context.checkpoint()  # Directo's words survive a failing look-up
        return await _look_up(context, export, directo, creds)
    except DirectoError as error:
        if error.retryable:  # Directo was not reached; the next run looks up all the same
            raise
        export.put_in_doubt = False  # Directo refused the whole request: it stored nothing
        if isinstance(error, DirectoAuthError):
            raise
        problem = ProblemItem(code=error.code, message=error.message, fix=error.hint)
        return await settling.failed(context, export, problem)
    if not results:
        raise RetryableJobError("outcome_unknown", "Directo answered the put with no result")
    result = results[0]
    # Directo answered: nothing stored, or stored. A duplicate/locked answer says an invoice
    # is under the number, so the put stays in doubt until the look-up below says whose.
    export.put_in_doubt = result.kind in _RELOOKUP_KINDS
    export.xml_received = outcomes.answer_xml(results)
    export.result_type, export.result_desc = result.type, result.desc
    if result.ok:
        return await settling.sent(
            context, export, docid=result.docid, confirmed=export.confirmed, note="created"
        )
    if result.kind is PutResultKind.NOT_CONFIRMED:
        warning = outcomes.problem_for(result)
        return await settling.sent(
            context, export, docid=result.docid, confirmed=False, note="created_unconfirmed",
            warnings=[warning],
        )  # fmt: skip
    if result.kind in _RELOOKUP_KINDS:
        found = await find_invoice(directo, creds, export.directo_number)
        export.put_in_doubt = False
        settled = await lookup.settle_found(context, export, found, result)
        if settled is not None:
            return settled
        return await settling.failed(
            context, export, outcomes.duplicate_problem(export.directo_number, None, result)
        )
    if result.kind is PutResultKind.UNAUTHORIZED:
        raise DirectoUnauthorized(result.desc or "Unauthorized")
    header, rows = _as_put(export)
    problem = outcomes.problem_for(result, rows, paymentterm=header.get("paymentterm"))
    return await settling.failed(context, export, problem)


async def _refused(
    context: JobContext, export: InvoiceExport, connection_id: uuid.UUID, error: DirectoError,
    work: Work,
) -> JobOutcome:  # fmt: skip
    """The send met a Directo error. While a put may have reached Directo nothing is
    decided on it: the connection's health records it (in a transaction of its own) and it
    propagates, the export staying `sending`. Else a refused token or feed fails it."""
    if export.put_in_doubt or not isinstance(error, DirectoAuthError):
        await health.fail(context.resources.sessionmaker, connection_id, error, work=work)
    failure = await explain_refusal(error, work)
    await health.report(
        context.session, connection_id, error_code=failure.code, hint=failure.hint,
        missing_feeds=missing_feeds(failure),
    )  # fmt: skip
    message = failure.message
    if not isinstance(failure, DirectoFeedNotActivated):
        message = f"Directo refused the token: {failure.message}"
    problem = ProblemItem(code=failure.code, message=message, fix=failure.hint)
    return await settling.failed(context, export, problem)


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
        return await settling.failed(
            context,
            export,
            ProblemItem(
                code="directo_not_connected",
                message="The Directo connection this invoice was exported through was removed.",
                fix="Connect Directo again, then export the invoice with a new key.",
            ),
        )
    # Interactive: the put's look-ups go ahead of bulk reads, as the put itself does.
    directo = context.resources.directo.with_priority(Priority.INTERACTIVE)
    creds = credentials_of(connection, context.resources.secrets)
    try:
        if export.status is ExportStatus.SENDING:  # an earlier put may have landed: ask first
            outcome = await _look_up(context, export, directo, creds)
        else:
            outcome = await _put(context, export, directo, creds)
    except DirectoError as error:
        work = Work(Feature.INVOICE_EXPORT, EXPORT_NEEDS, directo, creds)
        return await _refused(context, export, connection.id, error, work)
    await health.report(session, connection.id, error_code=None)
    return outcome


async def on_send_failure(session: AsyncSession, job: Job, failure: Failure) -> None:
    """The send job ended `failed` without settling its export (runs in that transaction).

    A `queued` export never reached Directo: it fails with the job's code. A `sending`
    one may have: it stays `sending`, with the error noted, for the recovery sweep to
    look up — unless it has failed that way `MAX_RECOVERIES` times; it then fails as
    `outcome_unknown` while a put is in doubt, keeping its number claimed.
    """
    export_id = job.params.get("export_id")
    if export_id is None:
        return
    export = await export_repo.get_export(session, uuid.UUID(str(export_id)), for_update=True)
    if export is None or export.status in {ExportStatus.SENT, ExportStatus.FAILED}:
        return
    noted = {"code": failure.code, "message": failure.detail, "at": settling.now().isoformat()}
    if export.status is ExportStatus.QUEUED or len(export.errors) + 1 >= MAX_RECOVERIES:
        unknown = export.put_in_doubt
        await settling.fail_export(
            session,
            export,
            ProblemItem(
                code="outcome_unknown" if unknown else failure.code,
                message=failure.detail,
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
