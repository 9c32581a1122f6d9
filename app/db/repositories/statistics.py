"""Summary settings, monthly statistics, and reloads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ARRAY, Select, String, any_, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import table_of
from app.db.models import (
    Client,
    ClientLink,
    Connection,
    Integration,
    Job,
    MonthlyStatistic,
    Reload,
    ReloadClient,
    ReloadClientStatus,
    SummarySettings,
)
from app.db.models.enums import ACTIVE_JOB_STATUSES


async def get_summary_settings(session: AsyncSession, company_id: str) -> SummarySettings | None:
    return await session.get(SummarySettings, company_id)


async def upsert_summary_settings(
    session: AsyncSession, company_id: str, values: dict[str, Any]
) -> SummarySettings:
    statement = (
        insert(SummarySettings)
        .values(company_id=company_id, **values)
        .on_conflict_do_update(
            index_elements=[SummarySettings.company_id], set_={**values, "updated_at": func.now()}
        )
        .returning(SummarySettings)
    )
    result = await session.execute(statement.execution_options(populate_existing=True))
    return result.scalar_one()


async def all_summary_settings(session: AsyncSession) -> list[SummarySettings]:
    return list((await session.execute(select(SummarySettings))).scalars())


# -- who has statistics ------------------------------------------------------------------


async def client_countries(session: AsyncSession, company_id: str) -> dict[str, str]:
    rows = await session.execute(
        select(Client.client_id, Client.country).where(Client.company_id == company_id)
    )
    return {client_id: country for client_id, country in rows.all()}  # noqa: C416


async def linked_customer_codes(session: AsyncSession, company_id: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(ClientLink.client_id, ClientLink.customer_code)
        .where(ClientLink.company_id == company_id)
        .order_by(ClientLink.client_id)
    )
    return [(client_id, code) for client_id, code in rows.all()]


async def client_connections(session: AsyncSession, company_id: str) -> list[Connection]:
    statement = (
        select(Connection)
        .where(
            Connection.company_id == company_id,
            Connection.client_id.is_not(None),
            Connection.retired_at.is_(None),
        )
        .order_by(Connection.client_id)
    )
    return list((await session.execute(statement)).scalars())


async def scheduled_companies(session: AsyncSession) -> list[SummarySettings]:
    """Summary settings of every company whose Directo integration is enabled."""
    statement = (
        select(SummarySettings)
        .join(Integration, Integration.company_id == SummarySettings.company_id)
        .where(Integration.enabled.is_(True))
        .order_by(SummarySettings.company_id)
    )
    return list((await session.execute(statement)).scalars())


def _scheduled_company_ids() -> Select[str]:
    return (
        select(SummarySettings.company_id)
        .join(Integration, Integration.company_id == SummarySettings.company_id)
        .where(Integration.enabled.is_(True))
    )


async def scheduled_client_countries(session: AsyncSession) -> dict[tuple[str, str], str]:
    """`client_countries` of every scheduled company: (company, client) → country."""
    rows = await session.execute(
        select(Client.company_id, Client.client_id, Client.country).where(
            Client.company_id.in_(_scheduled_company_ids())
        )
    )
    return {(company, client): country for company, client, country in rows.all()}


async def scheduled_customer_links(session: AsyncSession) -> list[tuple[str, str, str]]:
    """`linked_customer_codes` of every scheduled company: (company, client, customer code),
    ordered by company and client."""
    rows = await session.execute(
        select(ClientLink.company_id, ClientLink.client_id, ClientLink.customer_code)
        .where(ClientLink.company_id.in_(_scheduled_company_ids()))
        .order_by(ClientLink.company_id, ClientLink.client_id)
    )
    return [(company, client, code) for company, client, code in rows.all()]


async def scheduled_connections(session: AsyncSession) -> list[Connection]:
    """The current (not retired) connections of every scheduled company — the company's
    own and its clients' — ordered by company and client (the company's first)."""
    statement = (
        select(Connection)
        .where(
            Connection.company_id.in_(_scheduled_company_ids()),
            Connection.retired_at.is_(None),
        )
        .order_by(Connection.company_id, Connection.client_id.nulls_first())
    )
    return list((await session.execute(statement)).scalars())


# -- monthly values ----------------------------------------------------------------------


async def replace_months(
    session: AsyncSession,
    *,
    company_id: str,
    client_ids: list[str],
    first: dt.date,
    last: dt.date,
    rows: list[dict[str, Any]],
) -> None:
    """Overwrite the clients' stored values of the months `first`…`last` with `rows`."""
    await session.execute(
        delete(MonthlyStatistic).where(
            MonthlyStatistic.company_id == company_id,
            # = ANY(array): one statement text whatever the number of clients.
            MonthlyStatistic.client_id == any_(literal(client_ids, ARRAY(String))),
            MonthlyStatistic.month.between(first, last),
        )
    )
    if rows:
        await session.execute(insert(table_of(MonthlyStatistic)), rows)


async def statistics_between(
    session: AsyncSession, company_id: str, client_id: str, first: dt.date, last: dt.date
) -> list[MonthlyStatistic]:
    statement = (
        select(MonthlyStatistic)
        .where(
            MonthlyStatistic.company_id == company_id,
            MonthlyStatistic.client_id == client_id,
            MonthlyStatistic.month.between(first, last),
        )
        .order_by(MonthlyStatistic.month, MonthlyStatistic.field_key)
    )
    return list((await session.execute(statement)).scalars())


# -- reloads -----------------------------------------------------------------------------


async def lock_company_reloads(session: AsyncSession, company_id: str) -> None:
    """Serialise reload requests of one company until the transaction ends."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended("reloads:" + company_id, 0)))
    )


async def active_reloads(session: AsyncSession, company_id: str) -> list[Reload]:
    """The company's reloads whose job has not ended (the job's status is the truth)."""
    statement = (
        select(Reload)
        .join(Job, Job.id == Reload.job_id)
        .where(Reload.company_id == company_id, Job.status.in_(ACTIVE_JOB_STATUSES))
        .order_by(Reload.created_at)
    )
    return list((await session.execute(statement)).scalars())


async def reload_client_ids(session: AsyncSession, reload_id: uuid.UUID) -> list[str]:
    statement = select(ReloadClient.client_id).where(ReloadClient.reload_id == reload_id)
    return list((await session.execute(statement)).scalars())


async def get_reload(session: AsyncSession, reload_id: uuid.UUID) -> Reload | None:
    return await session.get(Reload, reload_id)


async def get_reload_by_job(session: AsyncSession, job_id: uuid.UUID) -> Reload | None:
    return await session.scalar(select(Reload).where(Reload.job_id == job_id))


async def reload_clients(session: AsyncSession, reload_id: uuid.UUID) -> list[ReloadClient]:
    statement = (
        select(ReloadClient)
        .where(ReloadClient.reload_id == reload_id)
        .order_by(ReloadClient.client_id)
    )
    return list((await session.execute(statement)).scalars())


async def add_reload_clients(
    session: AsyncSession, reload_id: uuid.UUID, client_ids: list[str]
) -> None:
    """Add the clients (those already listed are kept as they are)."""
    if client_ids:
        await session.execute(
            insert(ReloadClient)
            .values([{"reload_id": reload_id, "client_id": client_id} for client_id in client_ids])
            .on_conflict_do_nothing()
        )


async def record_client_result(
    session: AsyncSession,
    reload_id: uuid.UUID,
    client_id: str,
    *,
    status: ReloadClientStatus,
    months_written: int,
    error: dict[str, Any] | None,
) -> None:
    await session.execute(
        update(ReloadClient)
        .where(ReloadClient.reload_id == reload_id, ReloadClient.client_id == client_id)
        .values(status=status, months_written=months_written, error=error, finished_at=func.now())
    )


async def recount_reload(
    session: AsyncSession, reload_id: uuid.UUID, *, phase: str | None = None
) -> Reload:
    """Refresh the reload's client counters from its clients' rows (safe after a resume)."""

    def count(*conditions: Any) -> Any:
        return (
            select(func.count())
            .where(ReloadClient.reload_id == reload_id, *conditions)
            .scalar_subquery()
        )

    values: dict[str, Any] = {
        "clients_total": count(),
        "clients_done": count(ReloadClient.status == ReloadClientStatus.SUCCEEDED),
        "clients_failed": count(ReloadClient.status == ReloadClientStatus.FAILED),
    }
    if phase is not None:
        values["phase"] = phase
    statement = (
        update(Reload)
        .where(Reload.id == reload_id)
        .values(**values)
        .returning(Reload)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one()


async def client_known(session: AsyncSession, company_id: str, client_id: str) -> bool:
    """Whether the company ever linked or connected the client (or has values of it)."""
    known = select(Client.id).where(Client.company_id == company_id, Client.client_id == client_id)
    stored = select(MonthlyStatistic.id).where(
        MonthlyStatistic.company_id == company_id, MonthlyStatistic.client_id == client_id
    )
    return bool(await session.scalar(select(known.exists() | stored.exists())))
