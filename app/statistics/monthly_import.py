"""Scheduled monthly statistics: the hourly tick and the `statistics_import` job.

The tick looks at every company with summary settings (and Directo enabled) and, for each
client with Directo data, at the months whose import day has come (per the client's
country's calendar, looking back a few months so that days missed while no worker ran are
caught up). It creates one job per client and month under the deterministic dedupe key
`statistics:<company>:<client>:<YYYY-MM>`: the key is unique in the `jobs` table, so two
ticks, or two workers ticking at once, create each import exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.reporting import reporting_health
from app.connections.service import credentials_of
from app.db.models import Job
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.jobs.runner import JobContext, JobFailed, JobOutcome
from app.queue.names import JobName
from app.statistics.compute import supported_keys
from app.statistics.directo_reads import read_statistics
from app.statistics.import_days import BALTIC_TIME, ImportDayRule, due_months, local_today
from app.statistics.sources import company_sources
from app.statistics.storage import event_values, mapped_keys, month_key, store_months
from app.webhooks.types import EventType


def dedupe_key(company_id: str, client_id: str, month: dt.date) -> str:
    return f"statistics:{company_id}:{client_id}:{month_key(month)}"


async def start_due_imports(session: AsyncSession, *, today: dt.date | None = None) -> list[Job]:
    """Create the statistics imports that are due and were never created; the caller
    commits and enqueues them."""
    today = today or local_today()
    created: list[Job] = []
    for settings in await statistics_repo.scheduled_companies(session):
        if not mapped_keys(settings.field_mapping):
            continue
        rule = ImportDayRule(settings.import_day_rule)
        not_before = settings.created_at.astimezone(BALTIC_TIME).date()
        due: dict[str, dict[str, object]] = {}
        for source in (await company_sources(session, settings.company_id)).values():
            for month in due_months(
                today,
                rule=rule,
                day=settings.import_day,
                country=source.country,
                not_before=not_before,
            ):
                key = dedupe_key(settings.company_id, source.client_id, month)
                due[key] = {"client_id": source.client_id, "month": month.isoformat()}
        created += await job_repo.create_deduplicated_jobs(
            session,
            kind=JobName.STATISTICS_IMPORT.value,
            company_id=settings.company_id,
            jobs=due,
        )
    return created


async def import_month(context: JobContext) -> JobOutcome:
    """The `statistics_import` job: read one client's month and overwrite it."""
    company_id = context.job.company_id
    assert company_id is not None
    client_id = str(context.params["client_id"])
    month = dt.date.fromisoformat(str(context.params["month"]))
    session = context.session
    settings = await statistics_repo.get_summary_settings(session, company_id)
    field_mapping = dict(settings.field_mapping) if settings else {}
    source = (await company_sources(session, company_id)).get(client_id)
    if source is None:
        raise JobFailed(
            "client_not_connected",
            f"Client {client_id!r} is neither linked to a Directo customer nor has its own "
            "connection.",
        )
    keys = supported_keys(mapped_keys(field_mapping), source.scope)
    if not keys:
        return JobOutcome(counts={"fields": 0}, result={"month": month_key(month)})
    limit = context.resources.settings.directo.max_concurrency_per_connection
    async with reporting_health(context, source.connection.id):
        tally = await read_statistics(
            context.resources.directo,
            credentials_of(source.connection, context.resources.secrets),
            source,
            first=month,
            last=month,
            keys=keys,
            limiter=asyncio.Semaphore(limit),
        )
    values = tally.values(keys)
    await store_months(
        session,
        company_id=company_id,
        client_id=client_id,
        values=values,
        field_mapping=field_mapping,
        job_id=context.job.id,
    )
    await context.emit(
        EventType.STATISTICS_IMPORTED,
        {
            "client_id": client_id,
            "month": month_key(month),
            **source.description,
            "values": event_values(values[month], field_mapping),
        },
    )
    return JobOutcome(counts={"fields": len(keys)}, result={"month": month_key(month)})
