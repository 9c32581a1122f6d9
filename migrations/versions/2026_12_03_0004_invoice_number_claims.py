"""invoice number claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:00:00.000000+00:00

Different Uku numbers can give one Directo number (`INV-2026-0042`, `B-2026-0042` →
20260042). `invoice_number_claims` lets one Uku number per connection hold a Directo
number, under its primary key, so concurrent exports cannot both take it.

`invoice_exports.put_in_doubt` records that a put may have reached Directo with nothing
said since about its outcome: such an export keeps its number even once failed. Set for
the exports that are `sending` after a put, and for those that failed with
`outcome_unknown` (the only failure that left the put in doubt before this column).

Every export that may hold a number today gets it claimed — queued, sending, sent, or
failed with its put in doubt, as the runtime rule counts them — per number the one
Directo most likely holds: sent, then sending, then failed in doubt, then queued, the
oldest first within each. (Any other Uku number's export under the same number is
refused by the send's look-up.)
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
    op.add_column(
        "invoice_exports",
        sa.Column("put_in_doubt", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        """
        UPDATE invoice_exports SET put_in_doubt = true
        WHERE (status = 'sending' AND attempts > 0)
           OR (status = 'failed' AND error_code = 'outcome_unknown')
        """
    )
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
        WHERE connection_id IS NOT NULL
          AND (status IN ('queued', 'sending', 'sent') OR (status = 'failed' AND put_in_doubt))
        ORDER BY connection_id, directo_number,
                 CASE status WHEN 'sent' THEN 0 WHEN 'sending' THEN 1 WHEN 'failed' THEN 2
                             ELSE 3 END,
                 created_at, id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_number_claims_export_id", table_name="invoice_number_claims")
    op.drop_table("invoice_number_claims")
    op.drop_column("invoice_exports", "put_in_doubt")
