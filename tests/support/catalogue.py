"""The catalogue tests' company and routes; every customer page read; a bare connection."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient

from app.db.models import (
    Connection,
    ConnectionScope,
    Integration,
)
from app.resources import Resources
from app.security.contexts import token_context

COMPANY = "firm-1"

BASE = f"/v1/companies/{COMPANY}/directo"


async def all_customers(client: AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (
            await client.get(
                f"{BASE}/customers",
                params={"limit": 200, **params, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def bare_connection(db: Resources) -> uuid.UUID:
    connection_id = uuid.uuid4()
    sealed = db.secrets.seal("t", context=token_context(connection_id))
    async with db.sessionmaker() as session, session.begin():
        session.add(Integration(id=uuid.uuid4(), company_id=COMPANY, enabled=True))
        session.add(
            Connection(
                id=connection_id,
                company_id=COMPANY,
                scope=ConnectionScope.COMPANY,
                token_encrypted=sealed.ciphertext,
                token_key_id=sealed.key_id,
                token_hint="t",
            )
        )
    return connection_id
