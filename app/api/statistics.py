"""The field catalogue and summary settings."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import UnitOfWorkDep
from app.api.params import ClientId, CompanyId
from app.api.responses import problems
from app.db.repositories import statistics as statistics_repo
from app.errors import AppError, NotFound
from app.statistics import settings as summary_settings
from app.statistics.compute import months_between
from app.statistics.fields import CATALOGUE
from app.statistics.import_days import add_months, first_of_month, local_today
from app.statistics.reload_requests import MAX_MONTHS
from app.statistics.schemas import ClientStatistics, FieldCatalogue, MonthStatistics, StatisticValue
from app.statistics.settings import SummarySettingsIn, SummarySettingsOut
from app.statistics.storage import month_key, value_json

router = APIRouter(tags=["statistics"])


@router.get("/directo/fields", response_model=FieldCatalogue)
async def field_catalogue() -> FieldCatalogue:
    """Every statistic the gateway can import: common fields first, then those flagged `more`."""
    return FieldCatalogue(items=sorted(CATALOGUE, key=lambda field: field.more))


@router.put(
    "/companies/{company_id}/directo/summary-settings",
    response_model=SummarySettingsOut,
    responses=problems(422),
)
async def put_summary_settings(
    company_id: CompanyId, body: SummarySettingsIn, uow: UnitOfWorkDep
) -> SummarySettingsOut:
    """Set the monthly summary task, import day and field mapping (replaces the previous)."""
    row = await summary_settings.save(uow.session, company_id, body)
    return SummarySettingsOut.of(row)


@router.get(
    "/companies/{company_id}/directo/summary-settings",
    response_model=SummarySettingsOut,
    responses=problems(404, 422),
)
async def get_summary_settings(company_id: CompanyId, uow: UnitOfWorkDep) -> SummarySettingsOut:
    row = await statistics_repo.get_summary_settings(uow.session, company_id)
    if row is None:
        raise NotFound("summary settings")
    return SummarySettingsOut.of(row)


MonthQuery = Annotated[
    str | None,
    Query(pattern=r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$", description="A month, YYYY-MM"),
]


def _month(text: str | None, default: dt.date) -> dt.date:
    return default if text is None else dt.date.fromisoformat(f"{text}-01")


@router.get(
    "/companies/{company_id}/clients/{client_id}/directo/statistics",
    response_model=ClientStatistics,
    responses=problems(404, 422),
)
async def client_statistics(
    company_id: CompanyId,
    client_id: ClientId,
    uow: UnitOfWorkDep,
    month_from: Annotated[MonthQuery, Query(alias="from")] = None,
    month_to: Annotated[MonthQuery, Query(alias="to")] = None,
) -> ClientStatistics:
    """The client's stored values per month (default: the last 12), with their Uku field ids.
    A month with no values was not imported (or nothing is mapped)."""
    last = _month(month_to, first_of_month(local_today()))
    first = _month(month_from, add_months(last, -11))
    if first > last:
        raise AppError("month_range_invalid", "`from` must not be after `to`.", status=422)
    # Counted in months, not by date arithmetic: near year 9999 `add_months` would overflow.
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise AppError(
            "month_range_invalid", f"Ask for at most {MAX_MONTHS} months at once.", status=422
        )
    if not await statistics_repo.client_known(uow.session, company_id, client_id):
        raise NotFound("client")
    rows = await statistics_repo.statistics_between(uow.session, company_id, client_id, first, last)
    by_month: dict[dt.date, list[StatisticValue]] = {}
    for row in rows:
        by_month.setdefault(row.month, []).append(
            StatisticValue(
                field_key=row.field_key,
                value=value_json(row.value),
                uku_field_id=row.uku_field_id,
                imported_at=row.imported_at,
                job_id=row.job_id,
            )
        )
    return ClientStatistics(
        client_id=client_id,
        month_from=month_key(first),
        month_to=month_key(last),
        months=[
            MonthStatistics(month=month_key(month), values=by_month.get(month, []))
            for month in months_between(first, last)
        ],
    )
