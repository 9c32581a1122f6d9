"""Job spec of invoice export, and the worker tick that re-starts stuck sends.

Thin adapters: the flows live in `sending.py` and `recovery.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.exports.recovery import recover_stuck_exports
from app.exports.sending import on_send_failure, send_export
from app.jobs.runner import JobSpec
from app.queue.names import JobName
from app.resources import Resources

INVOICE_EXPORT = JobSpec(
    name=JobName.INVOICE_EXPORT, handler=send_export, max_attempts=5, on_failure=on_send_failure
)

SPECS = (INVOICE_EXPORT,)


async def exports_tick(ctx: dict[str, Any]) -> dict[str, int]:
    """Re-start export sends that stopped mid-way (cron, every minute; safe on many
    workers: a send is single-flight per export)."""
    resources: Resources = ctx["resources"]
    async with resources.sessionmaker() as session, session.begin():
        recovered = await recover_stuck_exports(session, now=dt.datetime.now(dt.UTC))
    for job in recovered:
        await resources.queue.enqueue(JobName(job.kind), job.id)
    return {"exports_recovered": len(recovered)}
