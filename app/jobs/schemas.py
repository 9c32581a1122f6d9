"""Jobs: request and response bodies of the API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from app.db.models import Job, JobStatus


class JobProgress(BaseModel):
    done: int
    total: int | None
    phase: str | None


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: JobStatus
    company_id: str | None
    progress: JobProgress
    counts: dict[str, Any]
    errors: list[dict[str, Any]]
    result: dict[str, Any] | None
    attempts: int
    request_id: str | None = Field(
        description="The X-Request-ID of the API request that created the job (or of the job "
        "that created it); null for scheduled work"
    )
    created_at: dt.datetime
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            company_id=job.company_id,
            progress=JobProgress(done=job.progress_done, total=job.progress_total, phase=job.phase),
            counts=job.counts,
            errors=job.errors,
            result=job.result,
            attempts=job.attempts,
            request_id=job.request_id,
            created_at=job.created_at,
            started_at=job.started_at,
            heartbeat_at=job.heartbeat_at,
            finished_at=job.finished_at,
        )


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None
