"""Starting catalogue imports (customers, articles): one unfinished import per connection
and feed — asking again returns the import already under way."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.service import get_connection, require_enabled
from app.db.models import Connection, Job
from app.db.repositories import jobs as job_repo
from app.queue.names import JobName


class Feed(StrEnum):
    CUSTOMERS = "customers"
    ARTICLES = "articles"

    @property
    def job_name(self) -> JobName:
        return JobName.CUSTOMERS_IMPORT if self is Feed.CUSTOMERS else JobName.ARTICLES_IMPORT


async def start_import(
    session: AsyncSession,
    connection: Connection,
    feed: Feed,
    *,
    full: bool = False,
    callback_url: str | None = None,
) -> tuple[Job, bool]:
    """The connection's running import of `feed`, or a new queued one; (job, created).

    The caller commits and then enqueues `feed.job_name` for a created job.
    """
    job = import_job(connection, feed, full=full)
    return await job_repo.create_singleflight_job(
        session,
        kind=job.kind,
        singleflight_key=job.singleflight_key,
        company_id=job.company_id,
        connection_id=job.connection_id,
        params=job.params,
        callback_url=callback_url,
    )


def import_job(
    connection: Connection, feed: Feed, *, full: bool = False
) -> job_repo.SingleflightJob:
    """The import of `feed` for `connection`: one unfinished per connection and feed."""
    return job_repo.SingleflightJob(
        kind=feed.job_name.value,
        singleflight_key=f"{import_key_prefix(feed)}{connection.id}",
        company_id=connection.company_id,
        connection_id=connection.id,
        params={"feed": feed.value, "full": full, "client_id": connection.client_id},
    )


def import_key_prefix(feed: Feed) -> str:
    """The single-flight key of a connection's `feed` import, less the connection id."""
    return f"import:{feed.value}:"


async def request_import(
    session: AsyncSession,
    *,
    company_id: str,
    feed: Feed,
    full: bool,
    client_id: str | None,
    callback_url: str | None,
) -> tuple[Job, bool]:
    """An import of `feed` for the company's connection (or the client's own one)."""
    await require_enabled(session, company_id)
    connection = await get_connection(session, company_id, client_id)
    return await start_import(session, connection, feed, full=full, callback_url=callback_url)
