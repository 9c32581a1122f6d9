"""The ids that tie a log line, a job, a Directo call and a webhook delivery to their cause.

The API binds the request's id for the length of a request; the job runner binds the job's
id (and the request id stored on the job) for the length of a run. Lower layers — the
Directo client's observers, the webhook sender — read them from here, so nothing has to
thread them through every call.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
JOB_ID: ContextVar[uuid.UUID | None] = ContextVar("job_id", default=None)
