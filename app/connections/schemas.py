"""The connection API's request and response bodies: the integration switch and settings,
a connection (never its token: only the masked hint), what a connect did, and a test.

`ConnectionIn` refuses unknown fields, so a misspelt `switch_database` is a 422, never a
silent "no".
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.connections.identity import Replaced
from app.db.models import Connection, ConnectionHealth, ConnectionScope, Integration
from app.jobs.schemas import JobOut


class IntegrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_confirm_invoices: bool | None = Field(
        default=None,
        description="Exported invoices are confirmed in Directo (default false: drafts)",
    )
    invoice_export_enabled: bool | None = Field(
        default=None, description="Invoice export is allowed (default false)"
    )


class IntegrationOut(BaseModel):
    company_id: str
    enabled: bool
    auto_confirm_invoices: bool
    invoice_export_enabled: bool
    enabled_at: dt.datetime | None
    disabled_at: dt.datetime | None

    @classmethod
    def of(cls, row: Integration) -> IntegrationOut:
        return cls(
            company_id=row.company_id,
            enabled=row.enabled,
            auto_confirm_invoices=row.auto_confirm_invoices,
            invoice_export_enabled=row.invoice_export_enabled,
            enabled_at=row.enabled_at,
            disabled_at=row.disabled_at,
        )


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=512, description="The XML Direct token (key)")
    database_code: str | None = Field(
        default=None, max_length=64, description="Only for legacy per-database endpoints"
    )
    force: bool = Field(
        default=False,
        description="Store the token even though its test fails (health `needs_attention`, no "
        "import starts). Never stores it in place of a token whose connection holds "
        "customers, links or exports: which database a failing token reaches cannot be "
        "checked (409 `directo_database_unverified`)",
    )
    switch_database: bool = Field(
        default=False,
        description="Connect another Directo database on purpose: when the token reaches a "
        "different database than the one imported from (or, with `force`, cannot be checked), "
        "the current connection is retired with its imports, links and exports and the token "
        "is stored on a new connection. Without it such a token is refused (409)",
    )


class ConnectionOut(BaseModel):
    id: uuid.UUID
    scope: ConnectionScope
    client_id: str | None
    token_hint: str = Field(description="The token's last four characters")
    database_code: str | None
    health: ConnectionHealth
    health_hint: str | None = Field(description="What to do about a health other than ok")
    missing_feeds: list[str] = Field(
        description="Capabilities configured features need and the token lacks "
        "(ask Directo to activate them, then test again)"
    )
    last_error_code: str | None
    last_test_at: dt.datetime | None
    last_test: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Connection) -> ConnectionOut:
        return cls(
            id=row.id,
            scope=row.scope,
            client_id=row.client_id,
            token_hint=row.token_hint,
            database_code=row.database_code,
            health=row.health,
            health_hint=row.health_hint,
            missing_feeds=list(row.missing_feeds),
            last_error_code=row.last_error_code,
            last_test_at=row.last_test_at,
            last_test=row.last_test_result,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class RemovedLinkOut(BaseModel):
    client_id: str
    customer_code: str


class ReplacedOut(BaseModel):
    """The connection retired by a deliberate switch to another Directo database."""

    connection_id: uuid.UUID
    retired_at: dt.datetime
    links_removed: list[RemovedLinkOut] = Field(
        description="Client links to the previous database's customers, removed: link again"
    )

    @classmethod
    def of(cls, replaced: Replaced | None) -> ReplacedOut | None:
        if replaced is None:
            return None
        retired = replaced.connection
        assert retired.retired_at is not None
        return cls(
            connection_id=retired.id,
            retired_at=retired.retired_at,
            links_removed=[
                RemovedLinkOut(client_id=link.client_id, customer_code=link.customer_code)
                for link in replaced.links_removed
            ],
        )


class ConnectOut(BaseModel):
    connection: ConnectionOut
    token_whitespace_removed: bool
    test: dict[str, Any]
    import_job: JobOut | None
    replaced: ReplacedOut | None = Field(
        default=None,
        description="Set when the token switched Directo databases (`switch_database`)",
    )


class TestOut(BaseModel):
    connection: ConnectionOut
    test: dict[str, Any]
