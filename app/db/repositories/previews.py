"""Reads behind the import preview and the article list.

Each page is one statement: the company's connection is looked up in the same query (a
lateral join), and only the columns the API shows are read — never the `raw` attributes,
which are the bulk of a row. The statement runs on a pooled connection in autocommit, so
a page costs one round trip and no transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, bindparam, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import ClientLink, Connection, DirectoArticle, DirectoCustomer

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
        .where(Connection.company_id == bindparam("company_id"), Connection.client_id.is_(None))
    )


# The statements are built once per shape and reused: building one (a lateral subquery's
# column collection, its cache key) costs more than running it.
@functools.cache
def _customers_statement(
    *, include_closed: bool, search: bool, after: bool, linked: bool | None
) -> Select[*tuple[Any, ...]]:
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
    if not include_closed:
        page = page.where(DirectoCustomer.closed.is_(False))
    if search:
        page = page.where(DirectoCustomer.search_text.like(bindparam("pattern")))
    if after:
        page = page.where(DirectoCustomer.code > bindparam("after_code"))
    if linked is not None:
        page = page.where(link_client.is_not(None) if linked else link_client.is_(None))
    return _of_company_connection(page)


@functools.cache
def _articles_statement(
    *, include_closed: bool, search: bool, after: bool
) -> Select[*tuple[Any, ...]]:
    page = (
        select(*ARTICLE_COLUMNS)
        .where(DirectoArticle.connection_id == Connection.id)
        .order_by(DirectoArticle.code)
        .limit(bindparam("limit"))
    )
    if not include_closed:
        page = page.where(DirectoArticle.closed.is_(False))
    if search:
        page = page.where(DirectoArticle.search_text.like(bindparam("pattern")))
    if after:
        page = page.where(DirectoArticle.code > bindparam("after_code"))
    return _of_company_connection(page)


async def _run(
    reader: AsyncEngine, statement: Select[*tuple[Any, ...]], parameters: dict[str, Any]
) -> Sequence[Row[Any]] | None:
    """None when the company has no Directo connection, else the page's rows (maybe none).
    The pooled connection is held for the statement only."""
    async with reader.connect() as connection:
        rows = (await connection.execute(statement, parameters)).all()
    if not rows:
        return None
    return [row for row in rows if row[0] is not None]  # a NULL row: an empty page


def _parameters(
    company_id: str, search: str | None, after_code: str | None, limit: int
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"company_id": company_id, "limit": limit}
    if search:
        parameters["pattern"] = like_pattern(search)
    if after_code is not None:
        parameters["after_code"] = after_code
    return parameters


async def customers_page(
    reader: AsyncEngine,
    company_id: str,
    *,
    search: str | None,
    include_closed: bool,
    linked: bool | None,
    after_code: str | None,
    limit: int,
) -> Sequence[Row[Any]] | None:
    """The shown columns of customers by code, each with `linked_client_id`; None when the
    company has no Directo connection.

    `search` must already be folded (lower case, no diacritics). Paging by code is stable
    while imports run: codes never change, new ones just appear in their place.
    """
    statement = _customers_statement(
        include_closed=include_closed,
        search=bool(search),
        after=after_code is not None,
        linked=linked,
    )
    return await _run(reader, statement, _parameters(company_id, search, after_code, limit))


async def articles_page(
    reader: AsyncEngine,
    company_id: str,
    *,
    search: str | None,
    include_closed: bool,
    after_code: str | None,
    limit: int,
) -> Sequence[Row[Any]] | None:
    """The shown columns of articles by code; None when the company has no connection."""
    statement = _articles_statement(
        include_closed=include_closed, search=bool(search), after=after_code is not None
    )
    return await _run(reader, statement, _parameters(company_id, search, after_code, limit))
