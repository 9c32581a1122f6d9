"""trigram search on imported catalogues

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:16:44.121045+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_directo_articles_search_text_trgm",
        "directo_articles",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_directo_customers_search_text_trgm",
        "directo_customers",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index(
        "ix_directo_customers_search_text_trgm",
        table_name="directo_customers",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_directo_articles_search_text_trgm",
        table_name="directo_articles",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
