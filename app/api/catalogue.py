"""Imports, the customer preview, client links and the article list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.api.deps import CursorsDep, ReaderDep, ResourcesDep, UnitOfWorkDep
from app.api.pagination import CursorQuery, Cursors, LimitQuery
from app.api.params import ClientId, CompanyId
from app.api.responses import created, json_of, problems
from app.connections import links
from app.db.repositories import previews
from app.errors import NotFound
from app.jobs.schemas import JobOut
from app.queue.names import JobName
from app.statistics import reload_requests
from app.sync.catalogue_rows import fold
from app.sync.imports import request_import
from app.sync.schemas import (
    ArticlePage,
    CustomerOut,
    CustomerPage,
    ImportIn,
    LinkIn,
    LinkOut,
    customer_fields,
)
from app.webhooks.service import check_target

router = APIRouter(tags=["customers and articles"])
_CUSTOMERS, _ARTICLES = "customers", "articles"  # the lists' names in their cursors

SearchQuery = Annotated[
    str | None, Query(max_length=100, description="Name, code or reg. no; case and accents ignored")
]


def article_fields(values: Sequence[Any]) -> dict[str, Any]:
    """An `ArticleOut` as plain data, from the values of `previews.ARTICLE_COLUMNS`."""
    code, name, unit, closed, missing_since = values
    return {
        "code": code,
        "name": name,
        "unit": unit,
        "closed": closed,
        "missing_since": missing_since,
    }


def _page_query(
    company_id: str, search: str | None, include_closed: bool, after_code: str | None, limit: int
) -> previews.PageQuery:
    return previews.PageQuery(
        company_id=company_id,
        search=fold(search) if search else None,
        include_closed=include_closed,
        after_code=after_code,
        limit=limit,
    )


def _page_json(
    rows: Sequence[Sequence[Any]] | None,
    query: previews.PageQuery,
    fields: Callable[[Sequence[Any]], dict[str, Any]],
    *,
    cursors: Cursors,
    page: str,
) -> Response:
    if rows is None:
        raise NotFound("Directo connection")
    next_after = rows[-1][0] if len(rows) == query.limit else None  # the last code
    return json_of(
        {
            "items": [fields(row) for row in rows],
            "next_cursor": cursors.after_code(page, next_after) if next_after else None,
        }
    )


@router.post(
    "/companies/{company_id}/directo/imports",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(404, 409, 422),
)
async def start_import(
    company_id: CompanyId, body: ImportIn, uow: UnitOfWorkDep, resources: ResourcesDep
) -> JobOut:
    """Import customers or articles in the background; an import already under way for the
    same connection and feed is returned instead of starting a second one."""
    if body.callback_url:
        await check_target(body.callback_url, resources.settings.webhooks)
    job, created = await request_import(
        uow.session,
        company_id=company_id,
        feed=body.feed,
        full=body.full,
        client_id=body.client_id,
        callback_url=body.callback_url,
    )
    if created:
        uow.enqueue_after_commit(JobName(job.kind), job.id)
    return JobOut.of(job)


@router.get(
    "/companies/{company_id}/directo/customers",
    response_model=CustomerPage,
    responses=problems(404, 422),
)
async def list_customers(
    company_id: CompanyId,
    reader: ReaderDep,
    cursors: CursorsDep,
    search: SearchQuery = None,
    include_closed: bool = False,
    linked: bool | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Response:
    """The import preview: Directo customers, closed ones hidden unless asked, each with the
    Uku client it is linked to."""
    after = cursors.read_code(_CUSTOMERS, cursor)
    query = _page_query(company_id, search, include_closed, after, limit)
    rows = await previews.customers_page(reader, query, linked=linked)
    return _page_json(rows, query, customer_fields, cursors=cursors, page=_CUSTOMERS)


@router.get(
    "/companies/{company_id}/directo/articles",
    response_model=ArticlePage,
    responses=problems(404, 422),
)
async def list_articles(
    company_id: CompanyId,
    reader: ReaderDep,
    cursors: CursorsDep,
    search: SearchQuery = None,
    include_closed: bool = False,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Response:
    after = cursors.read_code(_ARTICLES, cursor)
    query = _page_query(company_id, search, include_closed, after, limit)
    rows = await previews.articles_page(reader, query)
    return _page_json(rows, query, article_fields, cursors=cursors, page=_ARTICLES)


@router.put(
    "/companies/{company_id}/clients/{client_id}/directo/link",
    response_model=LinkOut,
    responses=created(LinkOut) | problems(409, 422),
)
async def link_client(
    company_id: CompanyId, client_id: ClientId, body: LinkIn, uow: UnitOfWorkDep, response: Response
) -> LinkOut:
    """Link the client to a Directo customer by code; re-linking starts a statistics reload."""
    outcome = await links.link_client(
        uow.session,
        company_id=company_id,
        client_id=client_id,
        customer_code=body.customer_code,
        country=body.country,
    )
    reload_id = None
    # A re-linked client's statistics are another customer's now: back-fill them.
    reload = (
        await reload_requests.reload_relinked(uow.session, company_id, client_id)
        if outcome.relinked
        else None
    )
    if reload is not None:
        reload_id = str(reload.reload.id)
        if reload.created:
            uow.enqueue_after_commit(JobName.STATISTICS_RELOAD, reload.job.id)
    response.status_code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
    return LinkOut(
        client_id=outcome.link.client_id,
        customer_code=outcome.link.customer_code,
        customer=CustomerOut.of(outcome.customer, outcome.link.client_id),
        linked_at=outcome.link.updated_at,
        reload_id=reload_id,
    )


@router.delete(
    "/companies/{company_id}/clients/{client_id}/directo/link",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(404, 422),
)
async def unlink_client(company_id: CompanyId, client_id: ClientId, uow: UnitOfWorkDep) -> Response:
    await links.unlink_client(uow.session, company_id=company_id, client_id=client_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
