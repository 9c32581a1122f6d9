"""statistics reads: which scheduled read of which client's month was created and done

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:00:00.000000+00:00

The scheduled import reads a month twice — first after its import day has ended, then
again days later so late bookings arrive — with one job per Directo database covering many
clients. `statistics_reads` holds one row per (company, client, month, read), written when
the job that reads it is created (the primary key makes that happen once) and completed
when its values are stored.

The imports made before this table (one `statistics_import` job per client and month, under
the dedupe key `statistics:<company>:<client>:<YYYY-MM>`) are recorded as first reads, so
the first tick after the upgrade does not read those months again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statistics_reads",
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "read_kind",
            sa.Enum(
                "first",
                "settle",
                name="read_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_statistics_reads_connection_id_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_statistics_reads_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "client_id", "month", "read_kind", name=op.f("pk_statistics_reads")
        ),
    )
    op.execute(
        """
        INSERT INTO statistics_reads
            (company_id, client_id, month, read_kind, job_id, completed_at, created_at)
        SELECT company_id, params->>'client_id', (params->>'month')::date, 'first', id,
               CASE WHEN status = 'succeeded' THEN finished_at END, created_at
        FROM jobs
        WHERE kind = 'statistics_import' AND dedupe_key LIKE 'statistics:%'
          AND company_id IS NOT NULL AND params ? 'client_id' AND params ? 'month'
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    op.drop_table("statistics_reads")
