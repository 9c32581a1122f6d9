"""Looking one document up in Directo by its number."""

from __future__ import annotations

import contextlib

from app.directo.client import DirectoClient
from app.directo.credentials import DirectoCredentials
from app.directo.schemas import DirectoInvoice


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
