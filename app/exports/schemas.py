"""The Uku invoice as the export API receives it, with what code resolution needs."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
