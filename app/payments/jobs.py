"""Job spec of paid status, and the worker tick that starts the polls that are due.

A thin adapter: the flow lives in `poll.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.jobs.runner import JobSpec
from app.payments.poll import on_poll_failure, poll_payments, start_due_polls
from app.queue.names import JobName
from app.resources import Resources

PAYMENT_POLL = JobSpec(
    name=JobName.PAYMENT_POLL, handler=poll_payments, max_attempts=3, on_failure=on_poll_failure
)

SPECS = (PAYMENT_POLL,)


async def payments_tick(ctx: dict[str, Any]) -> dict[str, int]:
    """Start the payment polls that are due (cron, every minute; safe on many workers: a
    poll is single-flight per connection)."""
    resources: Resources = ctx["resources"]
    now = dt.datetime.now(dt.UTC)
    interval = dt.timedelta(minutes=resources.settings.sync.payment_poll_minutes)
    async with resources.sessionmaker() as session, session.begin():
        polls = await start_due_polls(session, now=now, interval=interval)
    for job in polls:
        await resources.queue.enqueue(JobName(job.kind), job.id)
    return {"payment_polls": len(polls)}
