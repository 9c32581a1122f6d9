"""One Directo number, one Uku invoice: the claim rules (SQL in `number_claims`).

Different Uku numbers can give the same Directo number (`INV-2026-0042`, `B-2026-0042`
and `2026/0042` are all 20260042). Directo would answer the second "duplicate", and a
look-up would find an invoice of the same customer and amount and take it for its own:
two Uku invoices behind one Directo invoice, sharing one paid status. So:

* **validation** (the export and its dry run) refuses a number another Uku number holds
  on the connection — `invoice_number_taken`, naming that invoice and the fix;
* **creating an export claims the number** under a primary key in the same transaction
  as the export: of concurrent exports of different Uku numbers exactly one commits, the
  others answer `invoice_number_taken`. A retry of the same Uku number (a new
  `Idempotency-Key`) shares the claim;
* **the send's look-up** (Directo answered "duplicate", or an earlier put's outcome is
  unknown) accepts the invoice it finds only if no other Uku number holds or sent the
  number — an export recorded before claims existed, say — and otherwise fails the
  export with `invoice_number_taken`, handing the claim to the invoice Directo holds;
* **a failed export lets go of its claim only when Directo holds nothing of it**, which
  its history says, not its error code: while a put of it may have reached Directo with
  nothing said since about its outcome (`put_in_doubt`: sent, unanswered, not yet looked
  up) the number stays claimed, whatever the failure. Otherwise the claim moves to
  another live export of the number (a retry of the same Uku number, say), or is
  released when none is left (`number_claims.release`).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import InvoiceExport
from app.db.repositories import number_claims
from app.errors import ProblemItem


def taken_problem(number: int, *, uku_number: str, holder: str | None) -> ProblemItem:
    """The problem of `uku_number` whose Directo `number` belongs to invoice `holder`."""
    other = f"invoice {holder!r}" if holder else "another invoice"
    return ProblemItem(
        code="invoice_number_taken",
        message=(
            f"Invoice {uku_number!r} would be Directo number {number}, which {other} already "
            "holds on this Directo connection: Directo would keep one invoice for both."
        ),
        loc=["number"],
        fix=(
            "Renumber this invoice in Uku, or send this number series through another "
            "numbering whose digits cannot repeat another series' numbers (e.g. a series "
            "digit: B-2026-0042 → B9-2026-0042)."
        ),
        context={"directo_number": number, "held_by": holder},
    )


async def holder_besides(
    session: AsyncSession, *, connection_id: uuid.UUID, number: int, uku_number: str
) -> str | None:
    """The other Uku number that holds `number` on the connection (by claim, or by an
    export that sent it), or None when it is free or `uku_number`'s own."""
    holder = await number_claims.holder_of(session, connection_id, number)
    if holder is not None and holder != uku_number:
        return holder
    return await number_claims.other_sender(session, connection_id, number, besides=uku_number)


async def claim(session: AsyncSession, export: InvoiceExport) -> ProblemItem | None:
    """Claim the new export's number in its transaction; the problem if another holds it."""
    holder = await number_claims.claim(session, export)
    if holder == export.uku_invoice_number:
        return None
    return taken_problem(export.directo_number, uku_number=export.uku_invoice_number, holder=holder)


async def check_found(session: AsyncSession, export: InvoiceExport) -> ProblemItem | None:
    """Before a look-up's find counts as this export's invoice: the problem when another
    Uku number holds or sent the number (the claim then moves to the invoice Directo has)."""
    if export.connection_id is None:
        return None
    holder = await holder_besides(
        session,
        connection_id=export.connection_id,
        number=export.directo_number,
        uku_number=export.uku_invoice_number,
    )
    if holder is None:
        return None
    await number_claims.hand_over(session, export, to=holder)
    return taken_problem(export.directo_number, uku_number=export.uku_invoice_number, holder=holder)


async def on_failed(session: AsyncSession, export: InvoiceExport) -> None:
    """Let go of a failed export's claim, unless a put of it may have reached Directo."""
    if export.connection_id is not None and not export.put_in_doubt:
        await number_claims.release(session, export)
