"""Invoice export requests: the dry run, idempotent creation, reading exports.

**Exactly once, on the request side.** An export is keyed by (company, `Idempotency-Key`)
under a unique constraint. A request whose key is known answers the stored export when
its body hashes the same (nothing is validated or queued again) and `idempotency_key_reused`
(422) when it does not. A new key is validated, then inserted with `ON CONFLICT DO
NOTHING`: of any number of concurrent requests with one key exactly one inserts (and
queues one send job); the others wait for its commit and answer its export.

**One Directo number, one Uku invoice.** A new export claims its Directo number for its
Uku number in the same transaction (`claims.py`): of concurrent exports of *different*
Uku numbers with one Directo number exactly one is created; the others answer
`invoice_number_taken`.

Nothing here commits: the caller (the request's unit of work) commits, then enqueues the
job it was given.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.service import connection_for_client, require_enabled
from app.db.models import (
    Connection,
    ExportStatus,
    Integration,
    InvoiceExport,
    Job,
)
from app.db.repositories import exports as export_repo
from app.db.repositories import jobs as job_repo
from app.db.repositories import links as link_repo
from app.errors import AppError, Conflict, NotFound, ProblemItem
from app.exports import claims, validation
from app.exports.schemas import InvoiceIn
from app.queue.names import JobName


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how an invoice goes: the client's connection, customer code and settings."""

    integration: Integration
    connection: Connection
    customer_code: str


@dataclass(frozen=True, slots=True)
class Validated:
    target: Target
    prepared: validation.PreparedInvoice


@dataclass(frozen=True, slots=True)
class Created:
    export: InvoiceExport
    job: Job | None  # the send job to enqueue after commit; None for a replay
    replayed: bool


# Body fields added after exports were first stored: hashed only when set, so a retry of
# a request accepted before they existed still hashes as it did then.
_ADDED_LATER = ("client_email", "client_regno")


def request_hash(invoice: InvoiceIn) -> str:
    """SHA-256 of the invoice's canonical JSON (key order and whitespace do not matter)."""
    body = invoice.model_dump(mode="json")
    for name in _ADDED_LATER:
        if body.get(name) is None:
            body.pop(name, None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _target(session: AsyncSession, company_id: str, invoice: InvoiceIn) -> Target:
    integration = await require_enabled(session, company_id)
    connection = await connection_for_client(session, company_id, invoice.client_id)
    if connection is None:
        raise Conflict(
            "directo_not_connected",
            "Directo is not connected for this company (or this client): "
            "PUT …/directo/connection first.",
        )
    customer_code = invoice.customer_code
    if customer_code is None:
        link = await link_repo.get_link(session, company_id, invoice.client_id)
        customer_code = link.customer_code if link else None
    if customer_code is None:
        raise AppError(
            "customer_code_missing",
            f"Client {invoice.client_id!r} is not linked to a Directo customer and the invoice "
            "names no customer_code.",
            status=422,
            errors=[
                ProblemItem(
                    code="customer_code_missing",
                    message="No Directo customer code for the invoice's client.",
                    loc=["customer_code"],
                    fix="Link the client to its Directo customer, or send customer_code.",
                )
            ],
        )
    return Target(integration=integration, connection=connection, customer_code=customer_code)


async def validate(session: AsyncSession, company_id: str, invoice: InvoiceIn) -> Validated:
    """Every pre-flight check of an export; raises the 4xx a real export would get
    (except `invoice_export_disabled`: a dry run sends nothing)."""
    target = await _target(session, company_id, invoice)
    prepared = await validation.prepare(
        session,
        invoice,
        connection_id=target.connection.id,
        customer_code=target.customer_code,
        auto_confirm=target.integration.auto_confirm_invoices,
    )
    return Validated(target=target, prepared=prepared)


def _replay(existing: InvoiceExport, digest: str) -> Created:
    if existing.request_hash != digest:
        raise AppError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different invoice body: send the "
            "same body to get that export, or use a new key for a new export.",
            status=422,
        )
    return Created(export=existing, job=None, replayed=True)


async def create_export(
    session: AsyncSession, company_id: str, invoice: InvoiceIn, *, idempotency_key: str
) -> Created:
    """The export for `idempotency_key`: the stored one, or a new validated `queued` one
    with its send job (see the module docstring)."""
    digest = request_hash(invoice)
    existing = await export_repo.get_by_key(session, company_id, idempotency_key)
    if existing is not None:
        return _replay(existing, digest)
    validated = await validate(session, company_id, invoice)
    if not validated.target.integration.invoice_export_enabled:
        raise Conflict(
            "invoice_export_disabled",
            "Invoice export is not enabled for this company: connect Directo in the Billing "
            'app (PUT …/directo with {"invoice_export_enabled": true}).',
        )
    prepared, target = validated.prepared, validated.target
    values: dict[str, Any] = {
        "company_id": company_id,
        "client_id": invoice.client_id,
        "connection_id": target.connection.id,
        "idempotency_key": idempotency_key,
        "request_hash": digest,
        "request_body": invoice.model_dump(mode="json"),
        "uku_invoice_number": invoice.number,
        "directo_number": prepared.document.number,
        "customer_code": target.customer_code,
        "currency": invoice.currency,
        "net_total": prepared.net_total,
        "status": ExportStatus.QUEUED,
        "confirmed": prepared.document.confirm,
        "xml_sent": prepared.xml,
        "errors": [],
        "attempts": 0,
    }
    export = await export_repo.insert_if_new(session, values)
    if export is None:  # a concurrent request with the same key won
        winner = await export_repo.get_by_key(session, company_id, idempotency_key)
        assert winner is not None, "the conflicting export is committed before we can see it"
        return _replay(winner, digest)
    # Validation saw the number free; the claim decides among concurrent exports (the
    # caller's rollback of this transaction then drops the export row too).
    taken = await claims.claim(session, export)
    if taken is not None:
        raise validation.invalid([taken])
    job = await start_send(session, export)
    return Created(export=export, job=job, replayed=False)


async def start_send(session: AsyncSession, export: InvoiceExport) -> Job:
    """The export's unfinished send job, or a new one (the caller enqueues it after commit)."""
    job, _ = await job_repo.create_singleflight_job(
        session,
        kind=JobName.INVOICE_EXPORT.value,
        singleflight_key=f"export:{export.id}",
        company_id=export.company_id,
        connection_id=export.connection_id,
        params={"export_id": str(export.id)},
        callback_url=export.request_body.get("callback_url"),
    )
    export.job_id = job.id
    await session.flush()
    await session.refresh(export, ["updated_at"])  # set by the database on update
    return job


async def get_export(session: AsyncSession, company_id: str, export_id: uuid.UUID) -> InvoiceExport:
    export = await export_repo.get_company_export(session, company_id, export_id)
    if export is None:
        raise NotFound("invoice export")
    return export
