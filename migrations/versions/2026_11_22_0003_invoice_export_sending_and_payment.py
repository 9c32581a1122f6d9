"""invoice export sending and payment columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:00:00.000000+00:00

`net_total` is what the gateway sent (rows without VAT); `total` becomes Directo's own
total with VAT, unknown (NULL) until Directo has been read. Directo's last answer
(`result_type`/`result_desc`), attempt and failure times, the invoice's Directo `ts` and
when its payment status last changed are kept; two partial indexes serve the payment poll
and the recovery sweep, one the per-company list.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "invoice_exports"


def upgrade() -> None:
    op.add_column(
        _TABLE,
        sa.Column(
            "net_total", sa.Numeric(precision=18, scale=2), nullable=False, server_default="0"
        ),
    )
    op.alter_column(_TABLE, "net_total", server_default=None)
    op.alter_column(_TABLE, "total", existing_type=sa.Numeric(precision=18, scale=2), nullable=True)
    op.add_column(_TABLE, sa.Column("result_type", sa.Integer(), nullable=True))
    op.add_column(_TABLE, sa.Column("result_desc", sa.Text(), nullable=True))
    op.add_column(_TABLE, sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(_TABLE, sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(_TABLE, sa.Column("directo_ts", sa.DateTime(timezone=False), nullable=True))
    op.add_column(
        _TABLE,
        sa.Column("payment_status_changed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_invoice_exports_company_id_created_at",
        _TABLE,
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_invoice_exports_awaiting_payment",
        _TABLE,
        ["connection_id"],
        unique=False,
        postgresql_where=sa.text(
            "status = 'sent' AND (payment_status IS NULL OR payment_status <> 'paid')"
        ),
    )
    op.create_index(
        "ix_invoice_exports_unsettled",
        _TABLE,
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_exports_unsettled", table_name=_TABLE)
    op.drop_index("ix_invoice_exports_awaiting_payment", table_name=_TABLE)
    op.drop_index("ix_invoice_exports_company_id_created_at", table_name=_TABLE)
    op.drop_column(_TABLE, "payment_status_changed_at")
    op.drop_column(_TABLE, "directo_ts")
    op.drop_column(_TABLE, "failed_at")
    op.drop_column(_TABLE, "last_attempt_at")
    op.drop_column(_TABLE, "result_desc")
    op.drop_column(_TABLE, "result_type")
    # Rows exported since 0003 may have no Directo total yet: the old schema required one.
    op.execute(f"UPDATE {_TABLE} SET total = net_total WHERE total IS NULL")  # noqa: S608
    op.alter_column(
        _TABLE, "total", existing_type=sa.Numeric(precision=18, scale=2), nullable=False
    )
    op.drop_column(_TABLE, "net_total")
