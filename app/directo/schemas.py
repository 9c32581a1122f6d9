"""Typed Directo records (what the feeds give) and inputs (what a put sends).

Records are frozen and keep every attribute Directo sent in ``raw`` (strings, as sent),
so attributes this model does not name survive an import; child containers the model does
not type (items' ``supplieritems``) are kept there too, as lists of their entries'
attributes. Typed fields follow Directo's attribute names; empty attributes are ``None``
(text fields keep ``""`` → ``None`` too). Timestamps are naive, in Directo's local time
(Europe/Tallinn): a value sent with an offset is converted to it (see `values`).

A record's key (``code``/``number``) is ``""`` when Directo sent none: consumers that key
by it must count such a record as an error, never store it under an empty key.

Records are built by the codec with ``model_construct`` from already-converted values
(validation would re-do that work on the hot path); ``tests/directo`` checks that every
constructed record survives ``model_validate`` unchanged, so the types stay honest.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

RawValue = str | list[dict[str, str]]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    raw: dict[str, RawValue] = Field(default_factory=dict, repr=False)


class DirectoDataField(_Record):
    """One ``datafields/data`` entry (a user-defined field on a card)."""

    code: str = ""
    content: str | None = None
    param: str | None = None


class DirectoCustomer(_Record):
    """A ``customer`` from the customer feed."""

    code: str
    name: str | None = None
    regno: str | None = None
    vatregno: str | None = None
    address1: str | None = None
    address2: str | None = None
    address3: str | None = None
    county: str | None = None
    country: str | None = None
    contact: str | None = None
    email: str | None = None
    phone: str | None = None
    payterm: str | None = None
    salesman: str | None = None
    currency: str | None = None
    balance: Decimal | None = None
    closed: bool = False
    ts: dt.datetime | None = None
    datafields: tuple[DirectoDataField, ...] = ()


class DirectoItem(_Record):
    """An ``item`` (article) from the item feed; ``item_class`` is Directo's ``class``."""

    code: str
    name: str | None = None
    item_class: str | None = None
    unit: str | None = None
    salesprice: Decimal | None = None
    vatcode: str | None = None
    closed: bool = False
    ts: dt.datetime | None = None
    datafields: tuple[DirectoDataField, ...] = ()


class DirectoInvoiceRow(_Record):
    rn: str | None = None
    item: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    vatcode: str | None = None
    account: str | None = None
    object: str | None = None
    sum: Decimal | None = None


class DirectoInvoice(_Record):
    """A sales invoice; ``balance`` is the outstanding amount (0 when fully paid)."""

    number: str
    date: dt.date | None = None
    duedate: dt.date | None = None
    transactiondate: dt.date | None = None
    customercode: str | None = None
    customername: str | None = None
    paymentterm: str | None = None
    currency: str | None = None
    salesman: str | None = None
    confirmed: bool = False
    netamount: Decimal | None = None
    vat: Decimal | None = None
    totalamount: Decimal | None = None
    balance: Decimal | None = None
    ts: dt.datetime | None = None
    rows: tuple[DirectoInvoiceRow, ...] = ()


class DirectoReceiptRow(_Record):
    invoice: str | None = None
    order: str | None = None
    aeg: dt.date | None = None
    customer: str | None = None
    customername: str | None = None
    received: Decimal | None = None
    regno: str | None = None
    invoicesum: Decimal | None = None


class DirectoReceipt(_Record):
    """A receipt (payment); only confirmed ones settle invoices."""

    number: str
    paymentmode: str | None = None
    aeg: dt.date | None = None
    confirmed: bool = False
    ts: dt.datetime | None = None
    rows: tuple[DirectoReceiptRow, ...] = ()


class DirectoPurchase(_Record):
    """A purchase invoice."""

    number: str
    supplier: str | None = None
    suppliername: str | None = None
    supplierinvoiceno: str | None = None
    date: dt.date | None = None
    duedate: dt.date | None = None
    sum: Decimal | None = None
    vat: Decimal | None = None
    confirmed: bool = False
    ts: dt.datetime | None = None


class DirectoTransactionRow(_Record):
    rn: str | None = None
    account: str | None = None
    object: str | None = None
    project: str | None = None
    description: str | None = None
    vatcode: str | None = None
    currency: str | None = None
    debitamount: Decimal | None = None
    creditamount: Decimal | None = None
    date: dt.date | None = None


class DirectoTransaction(_Record):
    """A financial (ledger) transaction."""

    number: str
    type: str | None = None
    date: dt.date | None = None
    reference: str | None = None
    comment: str | None = None
    ts: dt.datetime | None = None
    rows: tuple[DirectoTransactionRow, ...] = ()


DirectoRecord = (
    DirectoCustomer
    | DirectoItem
    | DirectoInvoice
    | DirectoReceipt
    | DirectoPurchase
    | DirectoTransaction
)


class DirectoInvoiceRowInput(BaseModel):
    """One row of an invoice to put; unset optional attributes are not sent."""

    model_config = ConfigDict(frozen=True)

    item: str
    quantity: Decimal
    price: Decimal
    description: str | None = None
    vatcode: str | None = None
    object: str | None = None
    unit: str | None = None
    account: str | None = None
    project: str | None = None


class DirectoInvoiceInput(BaseModel):
    """A sales invoice to put (``xml_IN_arved`` names); ``confirm`` sends ``confirm="1"``."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1, le=2_147_483_647)
    customercode: str
    date: dt.date
    customername: str | None = None
    duedate: dt.date | None = None
    paymentterm: str | None = None
    currency: str | None = None
    salesman: str | None = None
    object: str | None = None
    comment: str | None = None
    language: str | None = None
    vatzone: str | None = None
    email: str | None = None
    customer_regno: str | None = None
    confirm: bool = False
    rows: tuple[DirectoInvoiceRowInput, ...] = ()


class PutResultKind(StrEnum):
    """What a ``<Result Type=…>`` means, in the gateway's words."""

    CREATED = "created"  # Type 0 / 30
    UNAUTHORIZED = "unauthorized"  # 5
    INVALID_XML = "invalid_xml"  # 8
    IMPORT_ERROR = "import_error"  # 9, 17
    DUPLICATE = "duplicate"  # 11
    MISSING_NUMBER = "missing_number"  # 12
    CUSTOMER_MISSING_REGNO_OR_EMAIL = "customer_missing_regno_or_email"  # 13
    CONFIRMED_LOCKED = "confirmed_locked"  # 14
    NOT_CONFIRMED = "not_confirmed"  # 29, 39: stored, but confirming failed
    ARTICLE_UNKNOWN = "article_unknown"  # non-zero Type whose Desc names an article
    VAT_CODE_UNKNOWN = "vat_code_unknown"
    SALESMAN_UNKNOWN = "salesman_unknown"
    OBJECT_UNKNOWN = "object_unknown"
    CUSTOMER_UNKNOWN = "customer_unknown"
    NOT_FOUND = "not_found"  # 31 naming something else
    NO_DATA = "no_data"  # 99
    OTHER = "other"


class PutResult(BaseModel):
    """One ``<Result>`` of a put, with Directo's own fields and the gateway's reading."""

    model_config = ConfigDict(frozen=True)

    type: int
    desc: str = ""
    docid: str | None = None
    doctype: str | None = None
    submit: str | None = None
    kind: PutResultKind
    hint: str

    @property
    def ok(self) -> bool:
        """True for Type 0 and 30: the document exists in Directo."""
        return self.kind is PutResultKind.CREATED
