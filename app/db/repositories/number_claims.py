"""Claims of Directo numbers by Uku invoice numbers, per connection (`InvoiceNumberClaim`).

All SQL of the claim rules in `app/exports/claims.py`; nothing here commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ExportStatus, InvoiceExport
from app.db.models.exports import InvoiceNumberClaim

_FAILED_IN_DOUBT = and_(
    InvoiceExport.status == ExportStatus.FAILED, InvoiceExport.put_in_doubt.is_(True)
)
# Exports whose invoice Directo holds or may hold.
_MAY_BE_IN_DIRECTO = or_(
    InvoiceExport.status.in_([ExportStatus.SENDING, ExportStatus.SENT]), _FAILED_IN_DOUBT
)
# Exports that hold their number: those above, and those still to be sent.
_LIVE = or_(_MAY_BE_IN_DIRECTO, InvoiceExport.status == ExportStatus.QUEUED)
# Which live export a claim goes to: the one Directo most likely holds, the oldest first.
_RANK = case(
    (InvoiceExport.status == ExportStatus.SENT, 0),
    (InvoiceExport.status == ExportStatus.SENDING, 1),
    (InvoiceExport.status == ExportStatus.FAILED, 2),
    else_=3,
)


def _same_number(export: InvoiceExport) -> ColumnElement[bool]:
    return and_(
        InvoiceExport.connection_id == export.connection_id,
        InvoiceExport.directo_number == export.directo_number,
    )


async def claim(session: AsyncSession, export: InvoiceExport) -> str | None:
    """Claim the export's Directo number on its connection for its Uku number.

    Returns the Uku number that holds the claim afterwards: the export's own (claimed, or
    re-claimed by a retry of the same Uku number, which then points the claim at this
    export), or another one's (the claim is left alone); None only if claims kept
    vanishing under it. One statement under the primary key: a concurrent claim waits
    for the other transaction and then sees its outcome.
    """
    values = insert(InvoiceNumberClaim).values(
        connection_id=export.connection_id,
        directo_number=export.directo_number,
        uku_invoice_number=export.uku_invoice_number,
        export_id=export.id,
    )
    statement = values.on_conflict_do_update(
        index_elements=["connection_id", "directo_number"],
        set_={"export_id": values.excluded.export_id},
        where=InvoiceNumberClaim.uku_invoice_number == values.excluded.uku_invoice_number,
    ).returning(InvoiceNumberClaim.uku_invoice_number)
    holder = None
    for _ in range(3):  # the holder may release its claim between the two statements
        if (await session.execute(statement)).scalar_one_or_none() is not None:
            return export.uku_invoice_number
        holder = await holder_of(session, export.connection_id, export.directo_number)
        if holder is not None:
            break
    return holder


async def holder_of(
    session: AsyncSession, connection_id: uuid.UUID | None, directo_number: int
) -> str | None:
    """The Uku number that holds `directo_number` on the connection, if any."""
    if connection_id is None:
        return None
    return await session.scalar(
        select(InvoiceNumberClaim.uku_invoice_number).where(
            InvoiceNumberClaim.connection_id == connection_id,
            InvoiceNumberClaim.directo_number == directo_number,
        )
    )


async def other_sender(
    session: AsyncSession, connection_id: uuid.UUID | None, directo_number: int, *, besides: str
) -> str | None:
    """The Uku number, other than `besides`, of the oldest export on the connection that
    sent (or may have sent: sending, or failed with its put in doubt) `directo_number`."""
    if connection_id is None:
        return None
    return await session.scalar(
        select(InvoiceExport.uku_invoice_number)
        .where(
            InvoiceExport.connection_id == connection_id,
            InvoiceExport.directo_number == directo_number,
            InvoiceExport.uku_invoice_number != besides,
            _MAY_BE_IN_DIRECTO,
        )
        .order_by(InvoiceExport.created_at, InvoiceExport.id)
        .limit(1)
    )


async def hand_over(session: AsyncSession, export: InvoiceExport, *, to: str) -> None:
    """Hand the export's number claim to the export of Uku number `to` that Directo most
    likely holds (sent, else sending, else failed in doubt), replacing whoever held it."""
    holder = await session.scalar(
        select(InvoiceExport.id)
        .where(_same_number(export), InvoiceExport.uku_invoice_number == to, _MAY_BE_IN_DIRECTO)
        .order_by(_RANK, InvoiceExport.created_at, InvoiceExport.id)
        .limit(1)
    )
    if holder is None:
        return
    statement = insert(InvoiceNumberClaim).values(
        connection_id=export.connection_id,
        directo_number=export.directo_number,
        uku_invoice_number=to,
        export_id=holder,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["connection_id", "directo_number"],
            set_={"uku_invoice_number": to, "export_id": holder},
        )
    )


async def release(session: AsyncSession, export: InvoiceExport) -> None:
    """Let go of the number claim of `export` (failed, and Directo holds nothing of it).

    The claim is its Uku number's, whichever of its exports it points at: it moves to
    another live export of the number (queued, sending, sent, or failed with its put in
    doubt — of its own Uku number first, then the one Directo most likely holds), or,
    when none is left, it is deleted. A claim held by another Uku number is left alone.

    The claim row is locked before the live exports are read: a concurrent re-claim (a new
    export of the same Uku number) is then either committed and seen here, or waits for
    this transaction and claims the number afresh.
    """
    claim = await session.scalar(
        select(InvoiceNumberClaim)
        .where(
            InvoiceNumberClaim.connection_id == export.connection_id,
            InvoiceNumberClaim.directo_number == export.directo_number,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if claim is None or claim.uku_invoice_number != export.uku_invoice_number:
        return
    own_first = case((InvoiceExport.uku_invoice_number == export.uku_invoice_number, 0), else_=1)
    successor = (
        await session.execute(
            select(InvoiceExport.id, InvoiceExport.uku_invoice_number)
            .where(_same_number(export), InvoiceExport.id != export.id, _LIVE)
            .order_by(own_first, _RANK, InvoiceExport.created_at, InvoiceExport.id)
            .limit(1)
        )
    ).first()
    where = (
        InvoiceNumberClaim.connection_id == export.connection_id,
        InvoiceNumberClaim.directo_number == export.directo_number,
    )
    if successor is None:
        await session.execute(delete(InvoiceNumberClaim).where(*where))
    else:
        await session.execute(
            update(InvoiceNumberClaim)
            .where(*where)
            .values(export_id=successor.id, uku_invoice_number=successor.uku_invoice_number)
        )
