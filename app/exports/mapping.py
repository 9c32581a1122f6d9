"""Mapping an Uku invoice to Directo's invoice input — pure functions, every rule tested.

The rules (SPEC §8):

* **number** and **payment term** — see `rules.py` (the digits of the Uku number; the
  days to the due date, sent as the connection's code for them); `duedate` is always
  sent too;
* **inline contact** — `email`/`customer_regno` when the caller passes them (see
  `InlineContact`);
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from app.directo.schemas import DirectoInvoiceInput, DirectoInvoiceRowInput
from app.errors import ProblemItem
from app.exports.rules import (
    MappingProblem,
    directo_number,
    payment_term_code,
    payment_term_days,
)
from app.exports.schemas import InvoiceIn, InvoiceRowIn, ResourceIn

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class InlineContact:
    """The client's e-mail and registration code, to send on the invoice itself.

    Seen (PROTOCOL §3.2, §4.4 item 6, §7): Directo answered Type 13 "Missing customer
    email or reg.no" live for a customer card with neither, and a live-tested client sends
    the invoice attributes `email` and `customer_regno` for such customers. Inferred: that
    the inline values satisfy the check for that invoice (whether Directo also copies them
    to the card is not known, which is why they are sent only when the card lacks both).
    """

    email: str | None = None
    regno: str | None = None


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


def map_invoice(
    invoice: InvoiceIn,
    *,
    customer_code: str,
    auto_confirm: bool,
    term_codes: Mapping[int, str] | None = None,
    contact: InlineContact | None = None,
) -> MappedInvoice:
    """Directo's invoice input for `invoice`, or every problem that prevents it.

    `term_codes` maps day counts to the connection's payment-term codes; `contact` is sent
    inline when given (the caller decides: only for a customer card without either).
    """
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
        paymentterm=payment_term_code(term, term_codes or {}),
        currency=invoice.currency,
        salesman=seller,
        comment=invoice.comment,
        email=contact.email if contact else None,
        customer_regno=contact.regno if contact else None,
        confirm=auto_confirm,
        rows=tuple(rows),
    )
    return MappedInvoice(document=document, problems=[])
