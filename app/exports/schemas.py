"""Invoice export: the Uku invoice as the API receives it (with what code resolution needs),
the payment-term codes, and the export as the API answers it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.db.models import Connection, ExportStatus, InvoiceExport, PaymentStatus

Code = Annotated[str, Field(min_length=1, max_length=64)]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=6)]
# Uku's ids, as the API's path parameters take them.
ClientIdField = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


# NUL and lone surrogates: PostgreSQL text/JSON cannot hold them, nor can Directo's XML.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(item) for item in value)
    return False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if _unstorable(data):
            raise ValueError("text must not contain NUL characters or unpaired surrogates")
        return data


class ResourceIn(_Strict):
    """An Uku resource (a person or team that does the work), with its Directo code."""

    id: Code
    name: str | None = Field(default=None, max_length=200)
    external_code: Code | None = Field(default=None, description="Directo object/salesman code")


class UserIn(_Strict):
    id: Code
    name: str | None = Field(default=None, max_length=200)
    external_code: Code | None = None


class VatCodeIn(_Strict):
    id: Code
    name: str | None = Field(default=None, max_length=200)
    external_code: Code | None = Field(default=None, description="The Directo VAT code")


class BillingSettingsIn(_Strict):
    """The client's billing settings in Uku."""

    default_resource_id: Code | None = None
    default_resource_is_default_user: bool = False
    default_user: UserIn | None = None
    due_date_days: int | None = Field(
        default=None, ge=0, le=3650, description="Payment period when the invoice has no due date"
    )


class InvoiceRowIn(_Strict):
    article_code: Code = Field(description="The product's external code = Directo item code")
    description: str | None = Field(default=None, max_length=1000)
    quantity: Money
    unit_price: Money
    unit: str | None = Field(default=None, max_length=20)
    vat_code: VatCodeIn
    resource_id: Code | None = None


class InvoiceIn(_Strict):
    """An Uku invoice to export to Directo."""

    number: str = Field(min_length=1, max_length=64, description="Uku number, e.g. INV-2026-0042")
    invoice_date: dt.date
    due_date: dt.date | None = None
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    client_id: ClientIdField
    customer_code: Code | None = Field(
        default=None, description="Directo customer code; when absent, the client's link is used"
    )
    comment: str | None = Field(default=None, max_length=1000)
    client_email: str | None = Field(
        default=None,
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description=(
            "The client's e-mail in Uku: sent on the invoice (`email`) when the Directo "
            "customer card has neither e-mail nor registration code"
        ),
    )
    client_regno: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^\S(.*\S)?$",
        description=(
            "The client's registration code in Uku: sent on the invoice (`customer_regno`) "
            "when the Directo customer card has neither e-mail nor registration code"
        ),
    )
    rows: list[InvoiceRowIn] = Field(min_length=1, max_length=500)
    billing: BillingSettingsIn = Field(default_factory=BillingSettingsIn)
    resources: list[ResourceIn] = Field(default_factory=list, max_length=500)
    callback_url: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _unique_resources(self) -> InvoiceIn:
        ids = [resource.id for resource in self.resources]
        if len(ids) != len(set(ids)):
            raise ValueError("resources must have unique ids")
        return self


class ExportError(BaseModel):
    code: str
    message: str
    fix: str | None = None
    loc: list[str | int] = Field(default_factory=list)
    context: dict[str, Any] | None = None


class PaymentOut(BaseModel):
    status: PaymentStatus | None = Field(description="unpaid, partially_paid or paid")
    total: Decimal | None = Field(description="Invoice total with VAT, as Directo has it")
    balance: Decimal | None = Field(description="Outstanding amount")
    paid_amount: Decimal | None
    overpaid_amount: Decimal | None = Field(
        description=(
            "Received beyond the total of a positive invoice (its balance below zero; the "
            "invoice counts as paid); 0 otherwise, null until Directo was read"
        )
    )
    paid_on: dt.date | None = Field(
        description=(
            "Date of the confirmed receipt that settled it, else the day (Europe/Tallinn) "
            "it was first read as paid"
        )
    )
    checked_at: dt.datetime | None = Field(description="Last read from Directo")
    changed_at: dt.datetime | None


def _fields(row: InvoiceExport, overpaid_amount: Decimal | None) -> dict[str, Any]:
    """An export's fields; `overpaid_amount` comes from the paid-status rules
    (`app.payments`), which the export does not know."""
    return {
        "id": row.id,
        "company_id": row.company_id,
        "client_id": row.client_id,
        "connection_id": row.connection_id,
        "invoice_number": row.uku_invoice_number,
        "directo_number": row.directo_number,
        "customer_code": row.customer_code,
        "currency": row.currency,
        "net_total": row.net_total,
        "status": row.status,
        "confirmed": row.confirmed,
        "directo_docid": row.directo_docid,
        "directo_result_type": row.result_type,
        "directo_result_desc": row.result_desc,
        "error_code": row.error_code,
        "errors": [ExportError.model_validate(item) for item in row.errors],
        "attempts": row.attempts,
        "job_id": row.job_id,
        "payment": PaymentOut(
            status=row.payment_status,
            total=row.total,
            balance=row.balance,
            paid_amount=row.paid_amount,
            overpaid_amount=overpaid_amount,
            paid_on=row.paid_on,
            checked_at=row.payment_checked_at,
            changed_at=row.payment_status_changed_at,
        ),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "last_attempt_at": row.last_attempt_at,
        "sent_at": row.sent_at,
        "failed_at": row.failed_at,
    }


class ExportOut(BaseModel):
    id: uuid.UUID
    company_id: str
    client_id: str
    connection_id: uuid.UUID | None
    invoice_number: str = Field(description="The Uku invoice number")
    directo_number: int = Field(description="The number in Directo (the digits of the Uku one)")
    customer_code: str
    currency: str
    net_total: Decimal = Field(description="Sum of the rows without VAT, as sent")
    status: ExportStatus = Field(
        description="queued → sending → sent | failed (`sending`: a put may be under way)"
    )
    confirmed: bool = Field(description="Confirmed in Directo (false: a draft)")
    directo_docid: str | None
    directo_result_type: int | None = Field(description="Type of Directo's last answer")
    directo_result_desc: str | None = Field(description="Desc of Directo's last answer")
    error_code: str | None
    errors: list[ExportError]
    attempts: int = Field(description="Puts sent to Directo")
    job_id: uuid.UUID | None
    payment: PaymentOut
    created_at: dt.datetime
    updated_at: dt.datetime
    last_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    failed_at: dt.datetime | None

    @classmethod
    def of(cls, row: InvoiceExport, *, overpaid_amount: Decimal | None) -> ExportOut:
        return cls(**_fields(row, overpaid_amount))


class ExportDetailOut(ExportOut):
    xml_sent: str | None = Field(description="The XML put into Directo")
    xml_received: str | None = Field(description="Directo's answer")

    @classmethod
    def of(cls, row: InvoiceExport, *, overpaid_amount: Decimal | None) -> ExportDetailOut:
        return cls(
            **_fields(row, overpaid_amount), xml_sent=row.xml_sent, xml_received=row.xml_received
        )


class ExportPage(BaseModel):
    items: list[ExportOut]
    next_cursor: str | None


class ValidationOut(BaseModel):
    valid: bool = Field(description="Always true: an invalid invoice answers 422")
    directo_number: int
    customer_code: str
    payment_term_days: int
    payment_term: str = Field(
        description="What `paymentterm` carries: the connection's code for the days, else the days"
    )
    seller: str | None = Field(description="The invoice header's salesman code")
    confirm: bool = Field(description="Sent with confirm=1 (auto-confirm is on)")
    net_total: Decimal
    xml: str = Field(description="The Directo XML that would be put")


Days = Annotated[int, Field(ge=0, le=3650)]


_NOT_IN_A_CODE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _storable(code: str) -> str:
    if code != code.strip() or _NOT_IN_A_CODE.search(code):
        raise ValueError("a code has no surrounding spaces and no control characters")
    return code


TermCode = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_storable)]


_CODES_DESCRIPTION = (
    "Payment term in days (as a JSON object key) → the Directo database's payment-term "
    'code, e.g. {"14": "N14", "30": "30P"}; a term not listed is sent as its day count'
)


class PaymentTermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: dict[Days, TermCode] = Field(max_length=500, description=_CODES_DESCRIPTION)


class PaymentTermsOut(BaseModel):
    connection_id: uuid.UUID
    codes: dict[int, str] = Field(description=_CODES_DESCRIPTION)

    @classmethod
    def of(cls, connection: Connection, codes: dict[int, str]) -> PaymentTermsOut:
        return cls(connection_id=connection.id, codes=codes)
