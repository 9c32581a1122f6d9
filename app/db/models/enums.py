"""Closed vocabularies stored as short text columns with CHECK constraints.

Text (not native PostgreSQL enums) keeps migrations simple: adding a value is a constraint
change, not an `ALTER TYPE` that cannot run inside a transaction.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum


class ConnectionScope(StrEnum):
    COMPANY = "company"
    CLIENT = "client"


class ConnectionHealth(StrEnum):
    UNTESTED = "untested"
    OK = "ok"
    DEGRADED = "degraded"
    NEEDS_ATTENTION = "needs_attention"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self in FINAL_JOB_STATUSES


FINAL_JOB_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.PARTIALLY_FAILED, JobStatus.FAILED})
ACTIVE_JOB_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.INTERRUPTED})


class ReloadClientStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StatisticsRead(StrEnum):
    """Which scheduled read of a month: the first, after its import day has ended, or the
    one that settles it days later (late bookings)."""

    FIRST = "first"
    SETTLE = "settle"


class ExportStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def text_enum(enum_cls: type[StrEnum], *, name: str) -> Enum:
    """A VARCHAR column restricted to the enum's values by a named CHECK constraint."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
