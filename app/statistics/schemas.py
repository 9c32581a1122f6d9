"""Statistics: request and response bodies of the API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.db.models import Job, JobStatus, Reload, ReloadClient, ReloadClientStatus
from app.statistics.fields import Field as CatalogueField
from app.statistics.reload_requests import MAX_MONTHS
from app.statistics.storage import month_key

ClientIdItem = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]


class ReloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_ids: list[ClientIdItem] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Clients to reload (default: every client with Directo data)",
    )
    months: int = Field(
        default=12, ge=1, le=MAX_MONTHS, description="Months to back-fill, ending this month"
    )
    callback_url: str | None = Field(
        default=None, max_length=2048, description="Also told `reload.completed`, signed"
    )


class ReloadProgress(BaseModel):
    clients_total: int
    clients_done: int
    clients_failed: int


class ReloadClientOut(BaseModel):
    client_id: str
    status: ReloadClientStatus
    months_written: int
    error: dict[str, Any] | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, row: ReloadClient) -> ReloadClientOut:
        return cls(
            client_id=row.client_id,
            status=row.status,
            months_written=row.months_written,
            error=row.error,
            finished_at=row.finished_at,
        )


class ReloadOut(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID
    company_id: str
    status: JobStatus
    phase: str | None
    reason: str | None
    months: int
    month_from: str = Field(description="First month reloaded, YYYY-MM")
    month_to: str = Field(description="Last month reloaded, YYYY-MM")
    all_clients: bool
    progress: ReloadProgress
    clients: list[ReloadClientOut]
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, reload: Reload, job: Job, clients: list[ReloadClient]) -> ReloadOut:
        return cls(
            id=reload.id,
            job_id=reload.job_id,
            company_id=reload.company_id,
            status=job.status,
            phase=reload.phase,
            reason=reload.reason,
            months=reload.months,
            month_from=month_key(reload.month_from),
            month_to=month_key(reload.month_to),
            all_clients=reload.all_clients,
            progress=ReloadProgress(
                clients_total=reload.clients_total,
                clients_done=reload.clients_done,
                clients_failed=reload.clients_failed,
            ),
            clients=[ReloadClientOut.of(row) for row in clients],
            created_at=reload.created_at,
            finished_at=reload.finished_at,
        )


class FieldCatalogue(BaseModel):
    items: list[CatalogueField]


class StatisticValue(BaseModel):
    field_key: str
    value: str = Field(description="Exact decimal (counts have no fraction)")
    uku_field_id: str | None = Field(description="The Uku field it mapped to when stored")
    imported_at: dt.datetime
    job_id: uuid.UUID | None


class MonthStatistics(BaseModel):
    month: str = Field(description="YYYY-MM")
    values: list[StatisticValue]


class ClientStatistics(BaseModel):
    client_id: str
    month_from: str
    month_to: str
    months: list[MonthStatistics]


class ReloadSummaryOut(BaseModel):
    """A reload as listed: `ReloadOut` without the per-client results."""

    id: uuid.UUID
    job_id: uuid.UUID
    status: JobStatus
    phase: str | None
    reason: str | None
    months: int
    month_from: str = Field(description="First month reloaded, YYYY-MM")
    month_to: str = Field(description="Last month reloaded, YYYY-MM")
    all_clients: bool
    progress: ReloadProgress
    errors: list[dict[str, Any]] = Field(description="The reload job's errors")
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, reload: Reload, job: Job) -> ReloadSummaryOut:
        return cls(
            id=reload.id,
            job_id=reload.job_id,
            status=job.status,
            phase=reload.phase,
            reason=reload.reason,
            months=reload.months,
            month_from=month_key(reload.month_from),
            month_to=month_key(reload.month_to),
            all_clients=reload.all_clients,
            progress=ReloadProgress(
                clients_total=reload.clients_total,
                clients_done=reload.clients_done,
                clients_failed=reload.clients_failed,
            ),
            errors=job.errors,
            created_at=reload.created_at,
            finished_at=reload.finished_at,
        )


class ReloadPage(BaseModel):
    items: list[ReloadSummaryOut]
    next_cursor: str | None
