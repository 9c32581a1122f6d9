"""invoice number claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:00:00.000000+00:00

Different Uku numbers can give one Directo number (`INV-2026-0042`, `B-2026-0042` →
20260042). `invoice_number_claims` lets one Uku number per connection hold a Directo
number, under its primary key, so concurrent exports cannot both take it. Exports that
hold a number today (queued, sending or sent) get their claim: per number, the oldest
such export's Uku number wins (any later export of another Uku number under the same
number is then refused by the send's look-up).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_number_claims",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("directo_number", sa.BigInteger(), nullable=False),
        sa.Column("uku_invoice_number", sa.String(length=64), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_invoice_number_claims_connection_id_connections",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["invoice_exports.id"],
            name="fk_invoice_number_claims_export_id_invoice_exports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "directo_number", name="pk_invoice_number_claims"),
    )
    op.create_index(
        "ix_invoice_number_claims_export_id", "invoice_number_claims", ["export_id"], unique=False
    )
    op.execute(
        """
        INSERT INTO invoice_number_claims (connection_id, directo_number, uku_invoice_number,
                                           export_id)
        SELECT DISTINCT ON (connection_id, directo_number)
               connection_id, directo_number, uku_invoice_number, id
        FROM invoice_exports
        WHERE connection_id IS NOT NULL AND status IN ('queued', 'sending', 'sent')
        ORDER BY connection_id, directo_number, created_at, id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_number_claims_export_id", table_name="invoice_number_claims")
    op.drop_table("invoice_number_claims")
