"""payment term codes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00.000000+00:00

Directo's invoice `paymentterm` is a code of the database's payment-term register.
`payment_term_codes` maps, per connection, a payment term in days to that code; a day
count without a row is sent as itself (the rule before this table existed).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_term_codes",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_payment_term_codes_connection_id_connections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "days", name="pk_payment_term_codes"),
    )


def downgrade() -> None:
    op.drop_table("payment_term_codes")
