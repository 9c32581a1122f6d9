"""The field catalogue and summary settings."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import UnitOfWorkDep
from app.api.params import CompanyId
from app.api.responses import problems
from app.db.repositories import statistics as statistics_repo
from app.errors import NotFound
from app.statistics import settings as summary_settings
from app.statistics.fields import CATALOGUE, Field
from app.statistics.settings import SummarySettingsIn, SummarySettingsOut

router = APIRouter(tags=["statistics"])


class FieldCatalogue(BaseModel):
    items: list[Field]


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
    await uow.commit()
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
