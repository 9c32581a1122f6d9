"""request ids on jobs and events

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:00:00.000000+00:00

The `X-Request-ID` of the API request that created a job is stored on it (`jobs.request_id`,
indexed so an operator can find a request's jobs), and the events a job or request writes
carry that request id and the job's id (`events.request_id`, `events.job_id`), so the log
lines of the webhook deliveries they cause can name both. `events.job_id` has no foreign
key: an event outlives the job that announced it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns without a default: a catalogue change, no table rewrite. A short
    # lock timeout makes a deploy fail fast rather than queue every write behind it.
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("jobs", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("events", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("events", sa.Column("job_id", sa.Uuid(), nullable=True))
    # Built without blocking writes to `jobs` (which the API and workers write all along).
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_jobs_request_id",
            "jobs",
            ["request_id"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_jobs_request_id", table_name="jobs", postgresql_concurrently=True, if_exists=True
        )
    op.drop_column("events", "job_id")
    op.drop_column("events", "request_id")
    op.drop_column("jobs", "request_id")
