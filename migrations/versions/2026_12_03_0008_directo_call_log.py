"""directo call log, and the indexes of the operator lists

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:00:00.000000+00:00

`directo_calls` records every HTTP attempt made to Directo for a job or a request (feed,
operation, filters without the token, status, Directo's result, sizes, duration). No
foreign keys: the log is written in batches and must never block, nor be blocked by, a
pruned job or a deleted connection. The indexes serve `GET /v1/jobs?company_id=…`, a
company's reloads, and its failing webhook deliveries, each newest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FAILING = "status = 'failed' OR (status = 'pending' AND attempts > 0)"
_LIST_INDEXES = [
    ("ix_jobs_company_id_created_at_id", "jobs", None),
    ("ix_reloads_company_id_created_at_id", "reloads", None),
    (
        "ix_webhook_deliveries_company_id_created_at_id_failing",
        "webhook_deliveries",
        sa.text(_FAILING),
    ),
]


def upgrade() -> None:
    op.create_table(
        "directo_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=8), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("result_type", sa.String(length=16), nullable=True),
        sa.Column("result_text", sa.String(length=500), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_directo_calls"),
    )
    op.create_index(
        "ix_directo_calls_job_id_created_at_id",
        "directo_calls",
        ["job_id", "created_at", "id"],
    )
    op.create_index("ix_directo_calls_created_at", "directo_calls", ["created_at"])
    # The lists' indexes on tables written all along: built without blocking writes
    # (CONCURRENTLY runs outside a transaction; IF NOT EXISTS makes a re-run after an
    # interrupted build finish the job — drop an INVALID one by hand first).
    with op.get_context().autocommit_block():
        for name, table, where in _LIST_INDEXES:
            op.create_index(
                name,
                table,
                ["company_id", "created_at", "id"],
                postgresql_where=where,
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, _ in reversed(_LIST_INDEXES):
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
    op.drop_index("ix_directo_calls_created_at", table_name="directo_calls")
    op.drop_index("ix_directo_calls_job_id_created_at_id", table_name="directo_calls")
    op.drop_table("directo_calls")
