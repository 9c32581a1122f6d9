"""The field catalogue: what the gateway can count per client and month, from which feed,
and for which kind of client.

Scopes: `own_connection` — a client with its own Directo database (everything in it is that
client's work); `linked_customer` — a client linked to a customer of the company's
database (only documents of that customer code are its work: purchases and ledger
transactions of the whole database are not, so they are not offered there). For such a
client the receipt fields count only the rows naming its customer code.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Scope(StrEnum):
    OWN_CONNECTION = "own_connection"
    LINKED_CUSTOMER = "linked_customer"


class Field(BaseModel):
    key: str
    label: str
    description: str
    unit: str
    more: bool
    source: str
    scopes: list[Scope]


_BOTH = [Scope.OWN_CONNECTION, Scope.LINKED_CUSTOMER]
_OWN = [Scope.OWN_CONNECTION]

CATALOGUE: tuple[Field, ...] = (
    Field(
        key="sales_invoices",
        label="Sales invoices",
        description="Sales invoices dated in the month",
        unit="count",
        more=False,
        source="invoice",
        scopes=_BOTH,
    ),
    Field(
        key="sales_invoice_rows",
        label="Sale entries",
        description="Rows of the month's sales invoices",
        unit="count",
        more=False,
        source="invoice",
        scopes=_BOTH,
    ),
    Field(
        key="purchase_invoices",
        label="Purchase invoices",
        description="Purchase invoices dated in the month (own database only)",
        unit="count",
        more=False,
        source="purchase",
        scopes=_OWN,
    ),
    Field(
        key="bank_transactions",
        label="Bank transactions",
        description=(
            "Receipts with a row dated in the month (a row's date, else the receipt's); "
            "a receipt whose rows fall in two months counts in each of them"
        ),
        unit="count",
        more=False,
        source="receipt",
        scopes=_BOTH,
    ),
    Field(
        key="ledger_transactions",
        label="Ledger transactions",
        description="Financial transactions dated in the month (own database only)",
        unit="count",
        more=False,
        source="transaction",
        scopes=_OWN,
    ),
    Field(
        key="documents",
        label="Documents",
        description="Sum of the document counts above that apply to the client",
        unit="count",
        more=False,
        source="derived",
        scopes=_BOTH,
    ),
    Field(
        key="sales_net_total",
        label="Sales net total",
        description="Sum of the month's sales invoices without VAT",
        unit="EUR",
        more=True,
        source="invoice",
        scopes=_BOTH,
    ),
    Field(
        key="purchase_total",
        label="Purchase total",
        description="Sum of the month's purchase invoices (own database only)",
        unit="EUR",
        more=True,
        source="purchase",
        scopes=_OWN,
    ),
    Field(
        key="receipts_total",
        label="Receipts total",
        description="Sum received on receipt rows dated in the month, each row in its own month",
        unit="EUR",
        more=True,
        source="receipt",
        scopes=_BOTH,
    ),
    Field(
        key="unpaid_sales_invoices",
        label="Unpaid sales invoices",
        description="The month's sales invoices with an outstanding balance",
        unit="count",
        more=True,
        source="invoice",
        scopes=_BOTH,
    ),
    Field(
        key="active_customers",
        label="Active customers",
        description="Distinct customers invoiced in the month",
        unit="count",
        more=True,
        source="invoice",
        scopes=_BOTH,
    ),
)

FIELD_KEYS = frozenset(field.key for field in CATALOGUE)
