"""Per-connection payment-term codes (`PaymentTermCode`): read and replace the mapping."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.exports import PaymentTermCode


async def codes_of(session: AsyncSession, connection_id: uuid.UUID) -> dict[int, str]:
    """The connection's day count → code mapping (empty: day counts are sent as they are)."""
    rows = await session.execute(
        select(PaymentTermCode.days, PaymentTermCode.code)
        .where(PaymentTermCode.connection_id == connection_id)
        .order_by(PaymentTermCode.days)
    )
    return {row.days: row.code for row in rows}


async def replace_codes(
    session: AsyncSession, connection_id: uuid.UUID, codes: Mapping[int, str]
) -> None:
    """Make `codes` the connection's whole mapping (flushes; the caller commits)."""
    await session.execute(
        delete(PaymentTermCode).where(PaymentTermCode.connection_id == connection_id)
    )
    session.add_all(
        PaymentTermCode(connection_id=connection_id, days=days, code=code)
        for days, code in sorted(codes.items())
    )
    await session.flush()
