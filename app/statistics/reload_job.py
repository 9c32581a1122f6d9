"""The `statistics_reload` job: back-fill a reload's months for each of its clients.

Per client, each needed feed is read once for the whole range and bucketed by month; the
client's months are then overwritten in **one transaction**, together with its result row
and the reload's counters, fenced by the run token (a run presumed dead cannot write after
its replacement started). Clients run concurrently, at most
`directo.max_concurrency_per_connection` Directo calls at a time per connection. A client
that fails (token revoked, Directo down after retries) is recorded with its error and the
rest go on; a resumed run skips the clients already done. The job ends `succeeded`,
`partially_failed` or `failed` and announces `reload.completed`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections import health
from app.connections.capabilities import missing_feeds
from app.connections.service import credentials_of
from app.db.models import Job, JobStatus, Reload, ReloadClientStatus
from app.db.repositories import jobs as job_repo
from app.db.repositories import statistics as statistics_repo
from app.directo.errors import DirectoError
from app.jobs.runner import JobContext, JobFailed, JobOutcome
from app.statistics.directo_reads import read_statistics
from app.statistics.sources import ClientSource, company_sources
from app.statistics.storage import mapped_keys, month_key, store_months
from app.webhooks.outbox import emit
from app.webhooks.types import EventType

log = structlog.get_logger(__name__)

# Clients whose results are being written at once (each holds a database connection).
_WRITERS = 4
_PROGRESS_EVERY = 0.5


class RunSuperseded(Exception):
    """Another run of the job took over; this one must stop writing."""


@dataclass(slots=True)
class _Plan:
    reload: Reload
    sources: dict[str, ClientSource]
    pending: list[str]
    field_mapping: dict[str, Any]


async def _plan(context: JobContext, reload_id: uuid.UUID) -> _Plan:
    async with context.resources.sessionmaker() as session, session.begin():
        reload = await statistics_repo.get_reload(session, reload_id)
        if reload is None:
            raise JobFailed("reload_missing", "The reload this job belongs to no longer exists.")
        settings = await statistics_repo.get_summary_settings(session, reload.company_id)
        field_mapping = dict(settings.field_mapping) if settings else {}
        sources = await company_sources(session, reload.company_id)
        clients = await statistics_repo.reload_clients(session, reload.id)
        reload.status = JobStatus.RUNNING
        reload.phase = "reading"
    pending = [row.client_id for row in clients if row.status is not ReloadClientStatus.SUCCEEDED]
    return _Plan(reload, sources, pending, field_mapping)


class _ReloadRun:
    def __init__(self, context: JobContext, plan: _Plan) -> None:
        self.context = context
        self.plan = plan
        self.reload = plan.reload
        self.keys = mapped_keys(plan.field_mapping)
        limit = context.resources.settings.directo.max_concurrency_per_connection
        self.limiters = {
            source.connection.id: asyncio.Semaphore(limit) for source in plan.sources.values()
        }
        self.writers = asyncio.Semaphore(_WRITERS)
        self.failed_connections: set[uuid.UUID] = set()
        self.used_connections: set[uuid.UUID] = set()
        self.progressed = asyncio.Event()

    async def run_all(self) -> None:
        publisher = asyncio.create_task(self.publish_progress())
        tasks = [asyncio.create_task(self.run_client(client)) for client in self.plan.pending]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)

    async def run_client(self, client_id: str) -> None:
        source = self.plan.sources.get(client_id)
        if source is None:
            await self._record(
                client_id,
                None,
                error={
                    "code": "client_not_connected",
                    "message": "The client is no longer linked to a Directo customer and has "
                    "no connection of its own.",
                },
            )
            return
        self.used_connections.add(source.connection.id)
        creds = credentials_of(source.connection, self.context.resources.secrets)
        try:
            tally = await read_statistics(
                self.context.resources.directo,
                creds,
                source,
                first=self.reload.month_from,
                last=self.reload.month_to,
                keys=self.keys,
                limiter=self.limiters[source.connection.id],
            )
        except DirectoError as error:
            self.failed_connections.add(source.connection.id)
            await self._record(
                client_id,
                None,
                error={"code": error.code, "message": error.message, "hint": error.hint},
                health_error=(source, error),
            )
            return
        await self._record(client_id, tally.values(self.keys))

    async def _record(
        self,
        client_id: str,
        values: dict[dt.date, dict[str, Any]] | None,
        *,
        error: dict[str, Any] | None = None,
        health_error: tuple[ClientSource, DirectoError] | None = None,
    ) -> None:
        context, reload = self.context, self.reload
        async with self.writers, context.resources.sessionmaker() as session, session.begin():
            if not await job_repo.holds_run(session, context.job.id, run_token=context.run_token):
                raise RunSuperseded
            if values is not None:
                await store_months(
                    session,
                    company_id=reload.company_id,
                    client_id=client_id,
                    values=values,
                    field_mapping=self.plan.field_mapping,
                    job_id=context.job.id,
                )
            await statistics_repo.record_client_result(
                session,
                reload.id,
                client_id,
                status=_client_status(values),
                months_written=0 if values is None else len(values),
                error=error,
            )
            if health_error is not None:
                source, failure = health_error
                await health.report(
                    session,
                    source.connection.id,
                    error_code=failure.code,
                    hint=failure.hint,
                    missing_feeds=missing_feeds(failure),
                )
        self.progressed.set()

    async def publish_progress(self) -> None:
        """Refresh the reload's counters and the job's progress whenever clients finished,
        at most every `_PROGRESS_EVERY` seconds (the clients' own transactions leave the
        shared rows alone, so they never queue behind each other)."""
        context = self.context
        while True:
            await self.progressed.wait()
            self.progressed.clear()
            async with context.resources.sessionmaker() as session, session.begin():
                counted = await statistics_repo.recount_reload(session, self.reload.id)
                await job_repo.record_progress(
                    session,
                    context.job.id,
                    run_token=context.run_token,
                    done=counted.clients_done + counted.clients_failed,
                    total=counted.clients_total,
                    phase="reading",
                )
            await asyncio.sleep(_PROGRESS_EVERY)

    async def report_healthy_connections(self, session: AsyncSession) -> None:
        for connection_id in sorted(self.used_connections - self.failed_connections):
            await health.report(session, connection_id, error_code=None)


def _client_status(values: object | None) -> ReloadClientStatus:
    return ReloadClientStatus.FAILED if values is None else ReloadClientStatus.SUCCEEDED


def _final_status(reload: Reload) -> JobStatus:
    if reload.clients_failed == 0:
        return JobStatus.SUCCEEDED
    if reload.clients_done == 0:
        return JobStatus.FAILED
    return JobStatus.PARTIALLY_FAILED


async def _client_errors(session: AsyncSession, reload_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        {"client_id": row.client_id, **(row.error or {})}
        for row in await statistics_repo.reload_clients(session, reload_id)
        if row.status is ReloadClientStatus.FAILED
    ]


def completion_payload(
    reload: Reload, status: JobStatus, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "reload_id": str(reload.id),
        "job_id": str(reload.job_id),
        "status": status.value,
        "reason": reload.reason,
        "months": reload.months,
        "month_from": month_key(reload.month_from),
        "month_to": month_key(reload.month_to),
        "clients_total": reload.clients_total,
        "clients_succeeded": reload.clients_done,
        "clients_failed": reload.clients_failed,
        "errors": errors,
    }


async def finish_reload(
    session: AsyncSession, job: Job, status: JobStatus | None
) -> tuple[Reload, JobStatus, list[dict[str, Any]]] | None:
    """Seal the reload with its final counts and announce `reload.completed` (in the
    job's closing transaction). `status=None` derives it from the clients' results."""
    reload = await statistics_repo.get_reload_by_job(session, job.id)
    if reload is None:
        return None
    reload = await statistics_repo.recount_reload(session, reload.id, phase="done")
    final = status or _final_status(reload)
    errors = await _client_errors(session, reload.id)
    reload.status = final
    reload.finished_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await emit(
        session,
        company_id=reload.company_id,
        type_=EventType.RELOAD_COMPLETED,
        payload=completion_payload(reload, final, errors),
        callback_url=job.callback_url,
    )
    return reload, final, errors


async def run_reload(context: JobContext) -> JobOutcome:
    """The `statistics_reload` job (see the module docstring)."""
    reload_id = uuid.UUID(str(context.params["reload_id"]))
    plan = await _plan(context, reload_id)
    run = _ReloadRun(context, plan)
    await context.progress(
        done=plan.reload.clients_done + plan.reload.clients_failed,
        total=plan.reload.clients_total,
        phase="reading",
    )
    try:
        await run.run_all()
    except RunSuperseded:
        raise JobFailed("run_superseded", "Another run of this reload took over.") from None
    await run.report_healthy_connections(context.session)
    finished = await finish_reload(context.session, context.job, None)
    assert finished is not None
    reload, status, errors = finished
    log.info("reload_finished", reload_id=str(reload.id), status=status.value)
    return JobOutcome(
        status=status,
        counts={
            "clients_total": reload.clients_total,
            "clients_succeeded": reload.clients_done,
            "clients_failed": reload.clients_failed,
        },
        errors=errors,
        result={"reload_id": str(reload.id)},
    )


async def reload_failed(session: AsyncSession, job: Job, code: str, detail: str) -> None:
    """The job failed outright (crash, superseded): seal the reload as `failed`."""
    await finish_reload(session, job, JobStatus.FAILED)
