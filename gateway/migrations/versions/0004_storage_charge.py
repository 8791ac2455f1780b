"""Vector-store storage charges: `storage_charge`, and an index of the vector stores.

Revision ID: 0004
Revises: 0003

`storage_charge` holds one row per vector store and UTC day charged (the
claim that makes the charge happen once across replicas). The partial index
lets the storage meter list the vector stores among every owned object
without reading the others.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_VECTOR_STORES = sa.text("kind = 'vector_store'")


def upgrade() -> None:
    op.create_table(
        "storage_charge",
        sa.Column("store_id", sa.String(128), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("usage_bytes", sa.BigInteger(), nullable=True),
        sa.Column("charged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_object_owner_vector_store",
        "object_owner",
        ["object_id"],
        postgresql_where=_VECTOR_STORES,
        sqlite_where=_VECTOR_STORES,
    )


def downgrade() -> None:
    op.drop_index("ix_object_owner_vector_store", table_name="object_owner")
    op.drop_table("storage_charge")
