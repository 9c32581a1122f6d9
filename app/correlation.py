"""The ids that tie a log line, a job, a Directo call and a webhook delivery to their cause.

The API binds the request's id for the length of a request; the job runner binds the job's
id (and the request id stored on the job) for the length of a run. Lower layers — the
Directo client's observers, the webhook sender — read them from here, so nothing has to
thread them through every call.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
JOB_ID: ContextVar[uuid.UUID | None] = ContextVar("job_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"

# What a caller's X-Request-ID may be: an id, not a sentence — it lands in every log line
# and on the jobs and events the request causes.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is 1–128 characters of ``A–Z a–z 0–9 . _ : -``;
    otherwise (absent, empty, too long, other characters) a new one (uuid4 hex). A rejected
    value is dropped, never echoed nor logged."""
    if header is not None and _ACCEPTED.fullmatch(header):
        return header
    return uuid.uuid4().hex


def bind(*, request_id: str | None, job_id: uuid.UUID | None = None) -> Callable[[], None]:
    """Set the ids for what runs next in this context — the context variables, and the
    fields every structlog line carries (`request_id`, and `job_id` when given) — and
    return the function that restores what was there before."""
    request_token = REQUEST_ID.set(request_id)
    job_token = JOB_ID.set(job_id)
    fields: dict[str, object] = {"request_id": request_id}
    if job_id is not None:
        fields["job_id"] = str(job_id)
    log_tokens = structlog.contextvars.bind_contextvars(**fields)

    def reset() -> None:
        structlog.contextvars.reset_contextvars(**log_tokens)
        JOB_ID.reset(job_token)
        REQUEST_ID.reset(request_token)

    return reset


@contextmanager
def bound(*, request_id: str | None, job_id: uuid.UUID | None = None) -> Iterator[None]:
    """`bind` for the length of a block."""
    reset = bind(request_id=request_id, job_id=job_id)
    try:
        yield
    finally:
        reset()
