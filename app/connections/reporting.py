"""Recording a job's Directo failure on its connection's health."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from app.connections import health
from app.connections.capabilities import Work
from app.directo.errors import DirectoError
from app.jobs.runner import JobContext


@contextlib.asynccontextmanager
async def reporting_health(
    context: JobContext, connection_id: uuid.UUID, *, work: Work | None = None
) -> AsyncIterator[None]:
    """Record a Directo failure on the connection's health in its own transaction (the
    job's own work is rolled back), then let the failure propagate — with `work`, as what a
    refusal turns out to be (`health.fail`: a feed the key lacks is `feed_not_activated`)."""
    try:
        yield
    except DirectoError as error:
        await health.fail(context.resources.sessionmaker, connection_id, error, work=work)
