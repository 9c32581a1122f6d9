"""Invoice exports: idempotent creation, lookups, the list, and the work lists of the send
recovery sweep and the payment poll."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import BigInteger, and_, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import (
    Connection,
    ExportStatus,
    Integration,
    InvoiceExport,
    Job,
    PaymentStatus,
    SyncWatermark,
)
from app.db.models.enums import FINAL_JOB_STATUSES

_AWAITING_PAYMENT = and_(
    InvoiceExport.status == ExportStatus.SENT,
    or_(
        InvoiceExport.payment_status.is_(None),
        InvoiceExport.payment_status != PaymentStatus.PAID,
    ),
)


async def get_by_key(
    session: AsyncSession, company_id: str, idempotency_key: str
) -> InvoiceExport | None:
    return await session.scalar(
        select(InvoiceExport).where(
            InvoiceExport.company_id == company_id,
            InvoiceExport.idempotency_key == idempotency_key,
        )
    )


async def insert_if_new(session: AsyncSession, values: dict[str, Any]) -> InvoiceExport | None:
    """Insert an export unless the company already has one with its idempotency key.

    Returns the new row, or None when the key is taken (a concurrent insert of the same
    key waits for the other transaction, then yields to it).
    """
    statement = (
        insert(InvoiceExport)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_nothing(index_elements=["company_id", "idempotency_key"])
        .returning(InvoiceExport.id)
    )
    new_id = (await session.execute(statement)).scalar_one_or_none()
    if new_id is None:
        return None
    return await session.get(InvoiceExport, new_id)


async def get_export(
    session: AsyncSession, export_id: uuid.UUID, *, for_update: bool = False
) -> InvoiceExport | None:
    statement = select(InvoiceExport).where(InvoiceExport.id == export_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement.execution_options(populate_existing=True))


async def get_company_export(
    session: AsyncSession, company_id: str, export_id: uuid.UUID
) -> InvoiceExport | None:
    return await session.scalar(
        select(InvoiceExport).where(
            InvoiceExport.id == export_id, InvoiceExport.company_id == company_id
        )
    )


async def list_exports(
    session: AsyncSession,
    company_id: str,
    *,
    status: ExportStatus | None,
    payment_status: PaymentStatus | None,
    paid_since: dt.date | None,
    client_id: str | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[InvoiceExport]:
    """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
    statement = select(InvoiceExport).where(InvoiceExport.company_id == company_id)
    if status is not None:
        statement = statement.where(InvoiceExport.status == status)
    if payment_status is not None:
        statement = statement.where(InvoiceExport.payment_status == payment_status)
    if paid_since is not None:
        statement = statement.where(
            InvoiceExport.payment_status == PaymentStatus.PAID,
            InvoiceExport.paid_on >= paid_since,
        )
    if client_id is not None:
        statement = statement.where(InvoiceExport.client_id == client_id)
    if after is not None:
        created_at, export_id = after
        statement = statement.where(
            or_(
                InvoiceExport.created_at < created_at,
                and_(InvoiceExport.created_at == created_at, InvoiceExport.id < export_id),
            )
        )
    statement = statement.order_by(InvoiceExport.created_at.desc(), InvoiceExport.id.desc())
    return list((await session.execute(statement.limit(limit))).scalars())


async def stuck_exports(
    session: AsyncSession, *, idle_before: dt.datetime, limit: int
) -> list[InvoiceExport]:
    """Exports still `queued`/`sending` whose job ended (or is gone) and that nothing has
    touched since `idle_before`: their send needs a new job (which looks up first)."""
    job = aliased(Job)
    statement = (
        select(InvoiceExport)
        .outerjoin(job, job.id == InvoiceExport.job_id)
        .where(
            InvoiceExport.status.in_([ExportStatus.QUEUED, ExportStatus.SENDING]),
            InvoiceExport.updated_at < idle_before,
            or_(job.id.is_(None), job.status.in_(FINAL_JOB_STATUSES)),
        )
        .order_by(InvoiceExport.updated_at)
        .limit(limit)
        .with_for_update(of=InvoiceExport, skip_locked=True)
    )
    return list((await session.execute(statement)).scalars())


async def sent_exports_with_numbers(
    session: AsyncSession, connection_id: uuid.UUID, numbers: Collection[int]
) -> list[InvoiceExport]:
    """The connection's sent exports among Directo `numbers`, row-locked for the update."""
    if not numbers:
        return []
    statement = (
        select(InvoiceExport)
        .where(
            InvoiceExport.connection_id == connection_id,
            InvoiceExport.status == ExportStatus.SENT,
            InvoiceExport.directo_number
            == any_(bindparam("numbers", value=list(numbers), type_=ARRAY(BigInteger))),
        )
        .order_by(InvoiceExport.id)
        .with_for_update()
    )
    return list((await session.execute(statement)).scalars())


async def sent_numbers(
    session: AsyncSession, connection_id: uuid.UUID, numbers: Collection[int]
) -> set[int]:
    """Which of `numbers` belong to the connection's sent exports."""
    if not numbers:
        return set()
    statement = select(InvoiceExport.directo_number).where(
        InvoiceExport.connection_id == connection_id,
        InvoiceExport.status == ExportStatus.SENT,
        InvoiceExport.directo_number
        == any_(bindparam("numbers", value=list(numbers), type_=ARRAY(BigInteger))),
    )
    return set((await session.execute(statement)).scalars())


async def oldest_awaiting_payment(
    session: AsyncSession, connection_id: uuid.UUID
) -> dt.datetime | None:
    """When the connection's oldest sent-but-unpaid export was created (None: there is none)."""
    statement = select(func.min(InvoiceExport.created_at)).where(
        InvoiceExport.connection_id == connection_id, _AWAITING_PAYMENT
    )
    value: dt.datetime | None = await session.scalar(statement)
    return value


async def never_checked_numbers(
    session: AsyncSession, connection_id: uuid.UUID, *, limit: int
) -> set[int]:
    """Numbers of sent exports whose payment status was never read from Directo."""
    statement = (
        select(InvoiceExport.directo_number)
        .where(
            InvoiceExport.connection_id == connection_id,
            InvoiceExport.status == ExportStatus.SENT,
            InvoiceExport.payment_checked_at.is_(None),
        )
        .order_by(InvoiceExport.sent_at)
        .limit(limit)
    )
    return set((await session.execute(statement)).scalars())


async def payment_poll_candidates(
    session: AsyncSession, *, feed: str, ran_before: dt.datetime, limit: int
) -> list[Connection]:
    """Connections of enabled integrations with sent, unpaid exports whose poll (watermark
    `feed`) last ran before `ran_before` or never, least recently polled first."""
    watermark = aliased(SyncWatermark)
    awaiting = select(InvoiceExport.id).where(
        InvoiceExport.connection_id == Connection.id, _AWAITING_PAYMENT
    )
    statement = (
        select(Connection)
        .join(Integration, Integration.company_id == Connection.company_id)
        .outerjoin(watermark, (watermark.connection_id == Connection.id) & (watermark.feed == feed))
        .where(
            Integration.enabled.is_(True),
            Connection.retired_at.is_(None),
            awaiting.exists(),
            or_(watermark.last_run_at.is_(None), watermark.last_run_at < ran_before),
        )
        .order_by(watermark.last_run_at.asc().nulls_first(), Connection.id)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())
