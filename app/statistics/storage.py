"""Writing clients' monthly statistics: the mapped fields only, each with the Uku field it
maps to at import time and the job that wrote it; the months are overwritten as a whole."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories import statistics as statistics_repo


def mapped_keys(field_mapping: dict[str, Any]) -> list[str]:
    """The field keys that are imported: those mapped to an Uku field."""
    return sorted(key for key, uku_field in field_mapping.items() if uku_field)


def month_key(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def value_json(value: Decimal) -> str:
    """A value as it appears in events and the API: exact decimal text, no exponent."""
    return format(value.normalize() if value == value.to_integral() else value, "f")


async def store_months(
    session: AsyncSession,
    *,
    company_id: str,
    values_by_client: dict[str, dict[dt.date, dict[str, Decimal]]],
    field_mapping: dict[str, Any],
    job_id: uuid.UUID,
) -> None:
    """Overwrite each client's months in its values (the caller owns the transaction): one
    delete and one insert for all clients whose values span the same months — a
    month-end's thousands of clients in two statements."""
    now = dt.datetime.now(dt.UTC)
    by_span: defaultdict[tuple[dt.date, dt.date], list[str]] = defaultdict(list)
    for client_id, values in values_by_client.items():
        if values:
            by_span[min(values), max(values)].append(client_id)
    for (first, last), client_ids in by_span.items():
        rows = [
            {
                "company_id": company_id,
                "client_id": client_id,
                "month": month,
                "field_key": key,
                "value": value,
                "uku_field_id": field_mapping.get(key),
                "job_id": job_id,
                "imported_at": now,
            }
            for client_id in client_ids
            for month, month_values in values_by_client[client_id].items()
            for key, value in month_values.items()
        ]
        await statistics_repo.replace_months(
            session, company_id=company_id, client_ids=client_ids, first=first, last=last, rows=rows
        )


def event_values(
    month_values: dict[str, Decimal], field_mapping: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        {"field_key": key, "value": value_json(value), "uku_field_id": field_mapping.get(key)}
        for key, value in month_values.items()
    ]
