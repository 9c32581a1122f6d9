"""Pre-flight validation of an export: the mapping rules plus what the connection knows.

`prepare` runs every check and reports every problem at once (a 422 whose `errors[]` name
the row, the code and the fix): the mapping's own problems (number, payment term,
object/salesman codes, VAT codes without an external code), a Directo number another Uku
invoice holds on the connection (`invoice_number_taken`), then article codes that are not
among the connection's imported articles (`article_unknown`) and a customer code that is
not among its imported customers (`customer_unknown`). The answer's `code` is
`invoice_number_taken` when that is among the problems (the invoice itself may be fine:
its number collides), else `invoice_invalid`.

The connection also shapes the document: its payment-term codes, and the client's e-mail
and registration code sent inline when the imported customer card has neither.
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
from app.db.repositories import payment_terms as term_repo
from app.directo.render import render_invoices
from app.directo.schemas import DirectoInvoiceInput
from app.errors import AppError, ProblemItem
from app.exports import claims
from app.exports.mapping import InlineContact, map_invoice
from app.exports.rules import MappingProblem, directo_number
from app.exports.schemas import InvoiceIn

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** 15  # the export's amounts are NUMERIC(18, 2)


@dataclass(frozen=True, slots=True)
class PreparedInvoice:
    """What will be put into Directo for one export."""

    document: DirectoInvoiceInput
    xml: str
    net_total: Decimal

    @property
    def payment_term_days(self) -> int:
        """The term in days (`paymentterm` may be the connection's code for it)."""
        due = self.document.duedate or self.document.date  # the mapping always sets it
        return (due - self.document.date).days


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
    """The 422 for `problems`: `invoice_number_taken` when the number collides, else
    `invoice_invalid`; every problem is listed in `errors`."""
    count = len(problems)
    taken = any(problem.code == "invoice_number_taken" for problem in problems)
    return AppError(
        "invoice_number_taken" if taken else "invoice_invalid",
        f"The invoice cannot be exported to Directo: {count} problem{'s' if count != 1 else ''}"
        ", each listed in errors with its fix.",
        status=422,
        errors=problems,
    )


async def _number_taken(
    session: AsyncSession, invoice: InvoiceIn, *, connection_id: uuid.UUID
) -> list[ProblemItem]:
    """`invoice_number_taken` when another Uku invoice holds the invoice's Directo number."""
    try:
        number = directo_number(invoice.number)
    except MappingProblem:
        return []  # the mapping has reported the number already
    holder = await claims.holder_besides(
        session, connection_id=connection_id, number=number, uku_number=invoice.number
    )
    if holder is None:
        return []
    return [claims.taken_problem(number, uku_number=invoice.number, holder=holder)]


async def _inline_contact(
    session: AsyncSession, invoice: InvoiceIn, *, connection_id: uuid.UUID, customer_code: str
) -> InlineContact | None:
    """The client's contact data to send inline, for an imported customer card that has
    neither e-mail nor registration code (Directo answers Type 13 otherwise)."""
    if invoice.client_email is None and invoice.client_regno is None:
        return None
    card = await catalog_repo.get_customer(session, connection_id, customer_code)
    if card is None or (card.email or "").strip() or (card.regno or "").strip():
        return None
    return InlineContact(email=invoice.client_email, regno=invoice.client_regno)


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
    """The document and XML for `invoice`; raises `invalid` (422) with every problem."""
    mapped = map_invoice(
        invoice,
        customer_code=customer_code,
        auto_confirm=auto_confirm,
        term_codes=await term_repo.codes_of(session, connection_id),
        contact=await _inline_contact(
            session, invoice, connection_id=connection_id, customer_code=customer_code
        ),
    )
    problems = list(mapped.problems)
    problems += await _number_taken(session, invoice, connection_id=connection_id)
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
