"""Job specs of invoice export and paid status, and the worker tick that starts them.

Thin adapters: the flows live in `sending.py`, `recovery.py` and `app/payments/poll.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.exports.recovery import recover_stuck_exports
from app.exports.sending import on_send_failure, send_export
from app.jobs.names import JobName
from app.jobs.runner import JobSpec
from app.payments.poll import on_poll_failure, poll_payments, start_due_polls
from app.resources import Resources

INVOICE_EXPORT = JobSpec(
    name=JobName.INVOICE_EXPORT, handler=send_export, max_attempts=5, on_failure=on_send_failure
)
PAYMENT_POLL = JobSpec(
    name=JobName.PAYMENT_POLL, handler=poll_payments, max_attempts=3, on_failure=on_poll_failure
)

SPECS = (INVOICE_EXPORT, PAYMENT_POLL)


async def exports_tick(ctx: dict[str, Any]) -> dict[str, int]:
    """Start the payment polls that are due and re-start stuck export sends (cron, every
    minute; safe on many workers: both are single-flight per connection / export)."""
    resources: Resources = ctx["resources"]
    now = dt.datetime.now(dt.UTC)
    interval = dt.timedelta(minutes=resources.settings.sync.payment_poll_minutes)
    async with resources.sessionmaker() as session, session.begin():
        polls = await start_due_polls(session, now=now, interval=interval)
        recovered = await recover_stuck_exports(session, now=now)
    for job in (*polls, *recovered):
        await resources.queue.enqueue(JobName(job.kind), job.id)
    return {"payment_polls": len(polls), "exports_recovered": len(recovered)}
