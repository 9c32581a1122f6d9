"""Reads behind the import preview and the article list.

Each page is one statement: the company's connection is looked up in the same query (a
lateral join), and only the columns the API shows are read — never the `raw` attributes,
which are the bulk of a row. The statement runs on a pooled connection in autocommit, so
a page costs one round trip and no transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import ClientLink, Connection, DirectoArticle, DirectoCustomer
from app.db.repositories.catalog import CatalogModel

CUSTOMER_COLUMNS = (
    DirectoCustomer.code,
    DirectoCustomer.name,
    DirectoCustomer.regno,
    DirectoCustomer.vatregno,
    DirectoCustomer.address1,
    DirectoCustomer.address2,
    DirectoCustomer.address3,
    DirectoCustomer.county,
    DirectoCustomer.country,
    DirectoCustomer.contact,
    DirectoCustomer.email,
    DirectoCustomer.phone,
    DirectoCustomer.closed,
    DirectoCustomer.missing_since,
)
ARTICLE_COLUMNS = (
    DirectoArticle.code,
    DirectoArticle.name,
    DirectoArticle.unit,
    DirectoArticle.closed,
    DirectoArticle.missing_since,
)


def like_pattern(folded: str) -> str:
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _of_company_connection(page: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """`page` (correlated to `Connection.id`) for the company's own connection: no row when
    the company has no Directo connection, one row of NULLs when the page is empty."""
    lateral = page.lateral("page")
    return (
        select(lateral)
        .select_from(Connection)
        .outerjoin(lateral, true())
        .where(
            Connection.company_id == bindparam("company_id"),
            Connection.client_id.is_(None),
            Connection.retired_at.is_(None),
        )
    )


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A list page: `search` already folded (lower case, no diacritics), codes after
    `after_code`. Paging by code is stable while imports run: codes never change, new
    ones just appear in their place."""

    company_id: str
    search: str | None
    include_closed: bool
    after_code: str | None
    limit: int

    def parameters(self) -> dict[str, Any]:
        parameters: dict[str, Any] = {"company_id": self.company_id, "limit": self.limit}
        if self.search:
            parameters["pattern"] = like_pattern(self.search)
        if self.after_code is not None:
            parameters["after_code"] = self.after_code
        return parameters


def _filtered(page: Select[*tuple[Any, ...]], model: CatalogModel, query: PageQuery) -> Any:
    if not query.include_closed:
        page = page.where(model.closed.is_(False))
    if query.search:
        page = page.where(model.search_text.like(bindparam("pattern")))
    if query.after_code is not None:
        page = page.where(model.code > bindparam("after_code"))
    return page


# The statements are built once per shape and reused: building one (a lateral subquery's
# column collection, its cache key) costs more than running it. A query's shape is what
# `_filtered` looks at, so queries of one shape share a statement.
def _shape(query: PageQuery) -> PageQuery:
    return PageQuery(
        company_id="",
        search="x" if query.search else None,
        include_closed=query.include_closed,
        after_code="" if query.after_code is not None else None,
        limit=0,
    )


@functools.cache
def _customers_statement(shape: PageQuery, linked: bool | None) -> Select[*tuple[Any, ...]]:
    link_client = (
        select(ClientLink.client_id)
        .where(
            ClientLink.company_id == bindparam("company_id"),
            ClientLink.customer_code == DirectoCustomer.code,
        )
        .scalar_subquery()
    )
    page = (
        select(*CUSTOMER_COLUMNS, link_client.label("linked_client_id"))
        .where(DirectoCustomer.connection_id == Connection.id)
        .order_by(DirectoCustomer.code)
        .limit(bindparam("limit"))
    )
    page = _filtered(page, DirectoCustomer, shape)
    if linked is not None:
        page = page.where(link_client.is_not(None) if linked else link_client.is_(None))
    return _of_company_connection(page)


@functools.cache
def _articles_statement(shape: PageQuery) -> Select[*tuple[Any, ...]]:
    page = (
        select(*ARTICLE_COLUMNS)
        .where(DirectoArticle.connection_id == Connection.id)
        .order_by(DirectoArticle.code)
        .limit(bindparam("limit"))
    )
    return _of_company_connection(_filtered(page, DirectoArticle, shape))


async def _run(
    reader: AsyncEngine, statement: Select[*tuple[Any, ...]], query: PageQuery
) -> Sequence[Row[Any]] | None:
    """None when the company has no Directo connection, else the page's rows (maybe none).
    The pooled connection is held for the statement only."""
    async with reader.connect() as connection:
        rows = (await connection.execute(statement, query.parameters())).all()
    if not rows:
        return None
    return [row for row in rows if row[0] is not None]  # a NULL row: an empty page


async def customers_page(
    reader: AsyncEngine, query: PageQuery, *, linked: bool | None
) -> Sequence[Row[Any]] | None:
    """`CUSTOMER_COLUMNS` and the linked client id of customers by code; None when the
    company has no Directo connection."""
    return await _run(reader, _customers_statement(_shape(query), linked), query)


async def articles_page(reader: AsyncEngine, query: PageQuery) -> Sequence[Row[Any]] | None:
    """`ARTICLE_COLUMNS` of articles by code; None when the company has no connection."""
    return await _run(reader, _articles_statement(_shape(query)), query)
