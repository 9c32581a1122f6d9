"""What the import preview and article list show: the company's imported Directo records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.repositories import previews
from app.errors import NotFound
from app.sync.catalogue import fold


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of the shown columns, and the code to continue after (None on the last page)."""

    rows: Sequence[Row[Any]]
    next_after: str | None


def _page(rows: Sequence[Row[Any]] | None, limit: int) -> Page:
    if rows is None:
        raise NotFound("Directo connection")
    return Page(rows, rows[-1].code if len(rows) == limit else None)


async def list_customers(
    reader: AsyncEngine,
    company_id: str,
    *,
    search: str | None,
    include_closed: bool,
    linked: bool | None,
    after_code: str | None,
    limit: int,
) -> Page:
    """Customers of the company's connection by code, with the client each is linked to."""
    rows = await previews.customers_page(
        reader,
        company_id,
        search=fold(search) if search else None,
        include_closed=include_closed,
        linked=linked,
        after_code=after_code,
        limit=limit,
    )
    return _page(rows, limit)


async def list_articles(
    reader: AsyncEngine,
    company_id: str,
    *,
    search: str | None,
    include_closed: bool,
    after_code: str | None,
    limit: int,
) -> Page:
    rows = await previews.articles_page(
        reader,
        company_id,
        search=fold(search) if search else None,
        include_closed=include_closed,
        after_code=after_code,
        limit=limit,
    )
    return _page(rows, limit)
