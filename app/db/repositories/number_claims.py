"""Claims of Directo numbers by Uku invoice numbers, per connection (`InvoiceNumberClaim`).

All SQL of the claim rules in `app/exports/claims.py`; nothing here commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ExportStatus, InvoiceExport
from app.db.models.exports import InvoiceNumberClaim

_MAY_BE_IN_DIRECTO = (ExportStatus.SENDING, ExportStatus.SENT)


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
    sent (or may have sent) `directo_number`, if any."""
    if connection_id is None:
        return None
    return await session.scalar(
        select(InvoiceExport.uku_invoice_number)
        .where(
            InvoiceExport.connection_id == connection_id,
            InvoiceExport.directo_number == directo_number,
            InvoiceExport.uku_invoice_number != besides,
            InvoiceExport.status.in_(_MAY_BE_IN_DIRECTO),
        )
        .order_by(InvoiceExport.created_at, InvoiceExport.id)
        .limit(1)
    )


async def hand_over(session: AsyncSession, export: InvoiceExport, *, to: str) -> None:
    """Hand the export's number claim to the oldest sent-or-sending export of Uku number
    `to` (what Directo is known to hold), replacing whoever held it."""
    holder = await session.scalar(
        select(InvoiceExport.id)
        .where(
            InvoiceExport.connection_id == export.connection_id,
            InvoiceExport.directo_number == export.directo_number,
            InvoiceExport.uku_invoice_number == to,
            InvoiceExport.status.in_(_MAY_BE_IN_DIRECTO),
        )
        .order_by(InvoiceExport.created_at, InvoiceExport.id)
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
    """Drop the export's claim on its number, unless a newer export re-claimed it or
    another export of the number is still queued, sending or sent.

    The claim row is matched by `export_id`, so a re-claim committed meanwhile (which
    repoints it) is re-checked by PostgreSQL and survives.
    """
    others = (
        select(InvoiceExport.id)
        .where(
            InvoiceExport.connection_id == export.connection_id,
            InvoiceExport.directo_number == export.directo_number,
            InvoiceExport.id != export.id,
            InvoiceExport.status.in_(
                [ExportStatus.QUEUED, ExportStatus.SENDING, ExportStatus.SENT]
            ),
        )
        .exists()
    )
    await session.execute(
        delete(InvoiceNumberClaim).where(
            InvoiceNumberClaim.connection_id == export.connection_id,
            InvoiceNumberClaim.directo_number == export.directo_number,
            InvoiceNumberClaim.export_id == export.id,
            ~others,
        )
    )
