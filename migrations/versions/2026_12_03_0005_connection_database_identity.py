"""connection database identity

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 12:00:00.000000+00:00

A replacement token that reaches another Directo database no longer changes the connection
in place: the connection is retired (`retired_at`, `replaced_by_id` → its successor) with
everything imported, linked and exported through it, and a new row serves the new
database. "One connection per company or client" becomes one *current* connection (a
partial unique index over the rows not retired). A connection also records the feeds its
configured features need and the token lacks (`missing_feeds`) and what to do about its
health (`health_hint`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "connections"
_OLD_UNIQUE = "uq_connections_company_id_client_id"
_CURRENT_UNIQUE = "uq_connections_current_company_id_client_id"
_REPLACED_BY_FK = "fk_connections_replaced_by_id_connections"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column("health_hint", sa.Text(), nullable=True))
    op.add_column(
        _TABLE,
        sa.Column(
            "missing_feeds",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.add_column(_TABLE, sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(_TABLE, sa.Column("replaced_by_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        _REPLACED_BY_FK, _TABLE, _TABLE, ["replaced_by_id"], ["id"], ondelete="SET NULL"
    )
    op.drop_constraint(_OLD_UNIQUE, _TABLE, type_="unique")
    op.create_index(
        _CURRENT_UNIQUE,
        _TABLE,
        ["company_id", "client_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("retired_at IS NULL"),
    )


def downgrade() -> None:
    # Retired connections (and what was imported through them) cannot live beside the
    # current ones under the old one-row constraint: they are removed first.
    op.execute(sa.text("DELETE FROM connections WHERE retired_at IS NOT NULL"))
    op.drop_index(_CURRENT_UNIQUE, table_name=_TABLE)
    op.create_unique_constraint(
        _OLD_UNIQUE, _TABLE, ["company_id", "client_id"], postgresql_nulls_not_distinct=True
    )
    op.drop_constraint(_REPLACED_BY_FK, _TABLE, type_="foreignkey")
    op.drop_column(_TABLE, "replaced_by_id")
    op.drop_column(_TABLE, "retired_at")
    op.drop_column(_TABLE, "missing_feeds")
    op.drop_column(_TABLE, "health_hint")
