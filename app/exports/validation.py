"""Pre-flight validation of an export: the mapping rules plus what the connection imported.

`prepare` runs every check and reports every problem at once (a 422 `invoice_invalid`
whose `errors[]` name the row, the code and the fix): the mapping's own problems
(number, payment term, object/salesman codes, VAT codes without an external code), then
article codes that are not among the connection's imported articles (`article_unknown`)
and a customer code that is not among its imported customers (`customer_unknown`).
On success it returns the Directo document, the exact XML to put, and the net total the
gateway later compares with what Directo holds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DirectoArticle, DirectoCustomer
from app.db.repositories import catalog as catalog_repo
from app.directo.render import render_invoices
from app.directo.schemas import DirectoInvoiceInput
from app.errors import AppError, ProblemItem
from app.exports.mapping import map_invoice
from app.exports.schemas import InvoiceIn

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** 15  # the export's amounts are NUMERIC(18, 2)


@dataclass(frozen=True, slots=True)
class PreparedInvoice:
    """What will be put into Directo for one export."""

    document: DirectoInvoiceInput
    xml: str
    net_total: Decimal


def net_total(document: DirectoInvoiceInput) -> Decimal:
    """Sum of the rows without VAT, each row rounded to cents (as Directo sums them)."""
    return sum(
        (
            (row.quantity * row.price).quantize(CENT, rounding=ROUND_HALF_UP)
            for row in document.rows
        ),
        Decimal(0),
    )


def invalid(problems: list[ProblemItem]) -> AppError:
    count = len(problems)
    return AppError(
        "invoice_invalid",
        f"The invoice cannot be exported to Directo: {count} problem{'s' if count != 1 else ''}"
        ", each listed in errors with its fix.",
        status=422,
        errors=problems,
    )


async def _catalogue_problems(
    session: AsyncSession, invoice: InvoiceIn, *, connection_id: uuid.UUID, customer_code: str
) -> list[ProblemItem]:
    problems: list[ProblemItem] = []
    codes = sorted({row.article_code for row in invoice.rows})
    known = await catalog_repo.existing_codes(session, DirectoArticle, connection_id, codes)
    for index, row in enumerate(invoice.rows):
        if row.article_code in known:
            continue
        problems.append(
            ProblemItem(
                code="article_unknown",
                message=(
                    f"Row {index + 1}: article code {row.article_code!r} is not among the "
                    "articles imported from Directo."
                ),
                loc=["rows", index, "article_code"],
                fix=(
                    "Import the article into Uku and re-link, or fix the product's external "
                    "code to an existing Directo article code."
                ),
                context={"row": index, "article_code": row.article_code},
            )
        )
    customers = await catalog_repo.existing_codes(
        session, DirectoCustomer, connection_id, [customer_code]
    )
    if customer_code not in customers:
        problems.append(
            ProblemItem(
                code="customer_unknown",
                message=(
                    f"Customer code {customer_code!r} is not among the customers imported "
                    "from Directo."
                ),
                loc=["customer_code"],
                fix=(
                    "Link the client to an existing Directo customer, or import customers "
                    "again if it was added in Directo recently."
                ),
                context={"customer_code": customer_code},
            )
        )
    return problems


def _render(document: DirectoInvoiceInput) -> tuple[str | None, ProblemItem | None]:
    try:
        return render_invoices([document]), None
    except ValueError as exc:
        return None, ProblemItem(
            code="text_invalid",
            message=f"The invoice holds a character XML cannot carry: {exc}.",
            fix="Remove control characters from the invoice's texts.",
        )


async def prepare(
    session: AsyncSession,
    invoice: InvoiceIn,
    *,
    connection_id: uuid.UUID,
    customer_code: str,
    auto_confirm: bool,
) -> PreparedInvoice:
    """The document and XML for `invoice`; raises `invoice_invalid` (422) with every problem."""
    mapped = map_invoice(invoice, customer_code=customer_code, auto_confirm=auto_confirm)
    problems = list(mapped.problems)
    problems += await _catalogue_problems(
        session, invoice, connection_id=connection_id, customer_code=customer_code
    )
    if problems or mapped.document is None:
        raise invalid(problems)
    total = net_total(mapped.document)
    if abs(total) >= MAX_AMOUNT:
        raise invalid(
            [
                ProblemItem(
                    code="amount_too_large",
                    message=f"The invoice's rows add up to {total}, more than can be exported.",
                    loc=["rows"],
                    fix="Check the rows' quantities and unit prices.",
                )
            ]
        )
    xml, problem = _render(mapped.document)
    if problem is not None or xml is None:
        raise invalid([problem] if problem else [])
    return PreparedInvoice(document=mapped.document, xml=xml, net_total=total)
