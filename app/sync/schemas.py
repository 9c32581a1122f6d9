"""Customers, articles and client links: request and response bodies of the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.db.models import DirectoCustomer
from app.db.repositories import previews
from app.sync.imports import Feed


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feed: Feed
    full: bool = Field(
        default=False, description="Re-read everything (default: changes since last import)"
    )
    client_id: str | None = Field(
        default=None, max_length=64, description="Use this client's own connection"
    )
    callback_url: str | None = Field(default=None, max_length=2048)


class Address(BaseModel):
    address1: str | None
    address2: str | None
    address3: str | None
    county: str | None
    country: str | None


class Contact(BaseModel):
    name: str | None
    email: str | None
    phone: str | None


class CustomerOut(BaseModel):
    code: str
    name: str
    registration_code: str | None
    vat_number: str | None
    address: Address
    contact: Contact
    closed: bool
    missing_since: dt.datetime | None
    linked_client_id: str | None

    @classmethod
    def of(cls, row: DirectoCustomer, linked_client_id: str | None) -> CustomerOut:
        values = [getattr(row, column.key) for column in previews.CUSTOMER_COLUMNS]
        return cls.model_validate(customer_fields([*values, linked_client_id]))


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class ArticleOut(BaseModel):
    code: str
    name: str
    unit: str | None
    closed: bool
    missing_since: dt.datetime | None


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    next_cursor: str | None


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_code: str = Field(min_length=1, max_length=64)
    country: Literal["EE", "LV"] | None = Field(
        default=None,
        description="The client's country (its public holidays pick the last work day)",
    )


class LinkOut(BaseModel):
    client_id: str
    customer_code: str
    customer: CustomerOut
    linked_at: dt.datetime
    reload_id: str | None = Field(description="Set when re-linking started a statistics reload")


def customer_fields(values: Sequence[Any]) -> dict[str, Any]:
    """A `CustomerOut` as plain data, from the values of `previews.CUSTOMER_COLUMNS` and the
    linked client id, in that order (unpacked by position: a page's rows are many)."""
    (code, name, regno, vatregno, address1, address2, address3, county, country) = values[:9]
    (contact, email, phone, closed, missing_since, linked_client_id) = values[9:]
    return {
        "code": code,
        "name": name,
        "registration_code": regno or None,
        "vat_number": vatregno or None,
        "address": {
            "address1": address1,
            "address2": address2,
            "address3": address3,
            "county": county,
            "country": country,
        },
        "contact": {"name": contact, "email": email, "phone": phone},
        "closed": closed,
        "missing_since": missing_since,
        "linked_client_id": linked_client_id,
    }
