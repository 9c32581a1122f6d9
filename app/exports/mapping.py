"""Mapping an Uku invoice to Directo's invoice input — pure functions, every rule tested.

The rules (SPEC §8):

* **number** — the digits of the Uku number in order (`INV-2026-0042` → `20260042`); no
  digits, zero, or more than 2147483647 is `invoice_number_invalid`;
* **payment term** — days from invoice date to due date; without a due date, the client's
  payment period; a due date before the invoice date is `payment_term_invalid`;
* **row object/salesman** — the row's resource's external code, else the client's default
  resource's, else the client's default user's when `default_resource_is_default_user`;
  otherwise (or when the resource found has no external code) `salesman_code_missing`;
* **seller** (header `salesman`) — the client's default user's external code, else the first
  resource code found on the rows;
* **confirm** — `confirm="1"` only when the integration auto-confirms invoices.

Problems are collected, not raised one at a time: the caller gets every one at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from app.directo.schemas import DirectoInvoiceInput, DirectoInvoiceRowInput
from app.errors import ProblemItem
from app.exports.schemas import InvoiceIn, InvoiceRowIn, ResourceIn

DIRECTO_MAX_NUMBER = 2_147_483_647
T = TypeVar("T")


class MappingProblem(Exception):
    def __init__(self, item: ProblemItem) -> None:
        super().__init__(item.message)
        self.item = item


def directo_number(uku_number: str) -> int:
    """The digits of `uku_number` as Directo's integer number; raises MappingProblem."""
    digits = "".join(
        character for character in uku_number if character.isascii() and character.isdigit()
    )
    value = int(digits) if digits else 0
    if not digits or value == 0 or value > DIRECTO_MAX_NUMBER:
        reason = (
            "has no digits" if not digits else f"gives {digits}, outside 1…{DIRECTO_MAX_NUMBER}"
        )
        raise MappingProblem(
            ProblemItem(
                code="invoice_number_invalid",
                message=f"Invoice number {uku_number!r} {reason}: Directo numbers are integers.",
                loc=["number"],
                fix="Use an invoice number series whose digits form a number up to 2147483647.",
                context={"number": uku_number},
            )
        )
    return value


def payment_term_days(
    invoice_date: dt.date, due_date: dt.date | None, *, default_days: int | None
) -> int:
    """Days between invoice and due date (or the client's payment period); raises MappingProblem."""
    if due_date is None:
        if default_days is None:
            raise MappingProblem(
                ProblemItem(
                    code="payment_term_missing",
                    message="The invoice has no due date and the client has no payment period.",
                    loc=["due_date"],
                    fix="Set a due date, or a payment period in the client's billing settings.",
                )
            )
        return default_days
    days = (due_date - invoice_date).days
    if days < 0:
        raise MappingProblem(
            ProblemItem(
                code="payment_term_invalid",
                message=f"The due date {due_date} is before the invoice date {invoice_date}.",
                loc=["due_date"],
                fix="Set a due date on or after the invoice date.",
            )
        )
    return days


@dataclass(frozen=True, slots=True)
class _Resources:
    by_id: dict[str, ResourceIn]

    def code_of(self, resource_id: str, *, loc: list[str | int]) -> str:
        resource = self.by_id.get(resource_id)
        label = resource.name if resource and resource.name else resource_id
        if resource is None or resource.external_code is None:
            raise MappingProblem(
                ProblemItem(
                    code="salesman_code_missing",
                    message=f"Resource {label!r} has no external (Directo object/salesman) code.",
                    loc=loc,
                    fix=f"Set the external code of resource {label!r} in Uku to its Directo code.",
                    context={"resource_id": resource_id},
                )
            )
        return resource.external_code


def row_object_code(invoice: InvoiceIn, index: int, row: InvoiceRowIn) -> str:
    """The row's object/salesman code by the fallback chain; raises MappingProblem."""
    resources = _Resources({resource.id: resource for resource in invoice.resources})
    loc: list[str | int] = ["rows", index, "resource_id"]
    if row.resource_id is not None:
        return resources.code_of(row.resource_id, loc=loc)
    billing = invoice.billing
    if billing.default_resource_id is not None:
        return resources.code_of(
            billing.default_resource_id, loc=["billing", "default_resource_id"]
        )
    if (
        billing.default_resource_is_default_user
        and billing.default_user
        and billing.default_user.external_code
    ):
        return billing.default_user.external_code
    raise MappingProblem(
        ProblemItem(
            code="salesman_code_missing",
            message=(
                f"Row {index + 1} has no resource, and the client has no default resource "
                "or default user with a code."
            ),
            loc=loc,
            fix=(
                "Set a resource on the row, a default resource for the client, or turn on "
                "'default resource is default user' for a user with an external code."
            ),
            context={"row": index},
        )
    )


def vat_code(index: int, row: InvoiceRowIn) -> str:
    if row.vat_code.external_code is None:
        label = row.vat_code.name or row.vat_code.id
        raise MappingProblem(
            ProblemItem(
                code="vat_code_missing",
                message=f"Row {index + 1}: VAT code {label!r} has no external (Directo) code.",
                loc=["rows", index, "vat_code", "external_code"],
                fix=f"Set the external code of VAT code {label!r} in Uku to its Directo VAT code.",
                context={"row": index, "vat_code_id": row.vat_code.id},
            )
        )
    return row.vat_code.external_code


@dataclass(frozen=True, slots=True)
class MappedInvoice:
    document: DirectoInvoiceInput | None
    problems: list[ProblemItem]


def _collect(problems: list[ProblemItem], rule: Callable[[], T]) -> T | None:
    """Run `rule`; on a MappingProblem, note it and carry on."""
    try:
        return rule()
    except MappingProblem as problem:
        problems.append(problem.item)
        return None


def map_invoice(invoice: InvoiceIn, *, customer_code: str, auto_confirm: bool) -> MappedInvoice:
    """Directo's invoice input for `invoice`, or every problem that prevents it."""
    problems: list[ProblemItem] = []

    number = _collect(problems, lambda: directo_number(invoice.number))
    term = _collect(
        problems,
        lambda: payment_term_days(
            invoice.invoice_date, invoice.due_date, default_days=invoice.billing.due_date_days
        ),
    )
    rows: list[DirectoInvoiceRowInput] = []
    for index, row in enumerate(invoice.rows):
        object_code = _collect(problems, lambda: row_object_code(invoice, index, row))  # noqa: B023
        vat = _collect(problems, lambda: vat_code(index, row))  # noqa: B023
        if object_code is not None and vat is not None:
            rows.append(
                DirectoInvoiceRowInput(
                    item=row.article_code,
                    description=row.description,
                    quantity=row.quantity,
                    price=row.unit_price,
                    vatcode=vat,
                    object=object_code,
                    unit=row.unit,
                )
            )
    if problems or number is None or term is None:
        return MappedInvoice(document=None, problems=problems)
    default_user = invoice.billing.default_user
    seller = (
        default_user.external_code
        if default_user and default_user.external_code
        else rows[0].object
    )
    try:
        due = invoice.due_date or invoice.invoice_date + dt.timedelta(days=term)
    except OverflowError:
        return MappedInvoice(
            document=None,
            problems=[
                ProblemItem(
                    code="payment_term_invalid",
                    message="The due date would fall after the year 9999.",
                    loc=["invoice_date"],
                    fix="Check the invoice date and the client's payment period.",
                )
            ],
        )
    document = DirectoInvoiceInput(
        number=number,
        customercode=customer_code,
        date=invoice.invoice_date,
        duedate=due,
        paymentterm=str(term),
        currency=invoice.currency,
        salesman=seller,
        comment=invoice.comment,
        confirm=auto_confirm,
        rows=tuple(rows),
    )
    return MappedInvoice(document=document, problems=[])
