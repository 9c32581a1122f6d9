"""The `statistics_reload` job: back-fill a reload's months for each of its clients.

Clients are grouped by the Directo database their statistics come from (the company's, for
clients linked to its customers; a client's own connection): each database is read once with
one plan of reads (`directo_reads.read_statistics_for_sources` — shared reads bucketed by
customer code, or per-code reads where cheaper), at most
`directo.max_concurrency_per_connection` Directo calls at a time per connection. Each
client's months are then overwritten in **one transaction**, together with its result row
and the reload's counters, fenced by the run token (a run presumed dead cannot write after
its replacement started); the clients of one database finish together. A database whose
reads fail (token revoked, feed refused, Directo down after retries) fails each of its
clients with the error and the rest go on; a resumed run skips the clients already done.
The job ends `succeeded`, `partially_failed` or `failed` and announces `reload.completed`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Coroutine, Iterable
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
from app.jobs.runner import Failure, JobContext, JobFailed, JobOutcome
from app.statistics.directo_reads import read_statistics_for_sources
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
        """Read each database the pending clients' statistics come from once (its clients
        together), and record every client's result as its database's reads end."""
        publisher = asyncio.create_task(self.publish_progress())
        databases: dict[uuid.UUID, list[ClientSource]] = {}
        work = []
        for client_id in self.plan.pending:
            source = self.plan.sources.get(client_id)
            if source is None:
                work.append(self.record_not_connected(client_id))
            else:
                databases.setdefault(source.connection.id, []).append(source)
        work += [self.run_database(sources) for sources in databases.values()]
        try:
            await _all_or_cancel(work)
        finally:
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)

    async def record_not_connected(self, client_id: str) -> None:
        await self._record(
            client_id,
            None,
            error={
                "code": "client_not_connected",
                "message": "The client is no longer linked to a Directo customer and has "
                "no connection of its own.",
            },
        )

    async def run_database(self, sources: list[ClientSource]) -> None:
        """Read the statistics of `sources` (all from one connection's database) with one
        plan of reads; a Directo failure fails each of them with its error (the
        connection's health reported once)."""
        connection = sources[0].connection
        self.used_connections.add(connection.id)
        creds = credentials_of(connection, self.context.resources.secrets)
        directo = self.context.resources.settings.directo
        try:
            tallies = await read_statistics_for_sources(
                self.context.resources.directo,
                creds,
                sources,
                first=self.reload.month_from,
                last=self.reload.month_to,
                keys=self.keys,
                limiter=self.limiters[connection.id],
                months_per_read=directo.statistics_months_per_read,
                per_code_reads_up_to=directo.statistics_per_code_reads_up_to,
            )
        except DirectoError as error:
            self.failed_connections.add(connection.id)
            failure = {"code": error.code, "message": error.message, "hint": error.hint}
            await _all_or_cancel(
                self._record(
                    source.client_id,
                    None,
                    error=failure,
                    health_error=(source, error) if index == 0 else None,
                )
                for index, source in enumerate(sources)
            )
            return
        await _all_or_cancel(
            self._record(source.client_id, tallies.pop(source.client_id).values(self.keys))
            for source in sources
        )

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
                    values_by_client={client_id: values},
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


async def _all_or_cancel(work: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run `work` concurrently; on the first failure cancel the rest, then raise it."""
    tasks = [asyncio.create_task(coroutine) for coroutine in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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


async def reload_failed(session: AsyncSession, job: Job, failure: Failure) -> None:
    """The job failed outright (crash, superseded): seal the reload as `failed`."""
    await finish_reload(session, job, JobStatus.FAILED)
