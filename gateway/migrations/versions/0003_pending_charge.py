"""Calls billed when they end upstream (batches): `pending_charge`.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_charge",
        sa.Column("object_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("upstream", sa.String(64), nullable=False),
        sa.Column("bound_nanos", sa.BigInteger(), nullable=False),
        sa.Column("counters", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
    )
    op.create_index("ix_pending_charge_next_check_at", "pending_charge", ["next_check_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_charge_next_check_at", table_name="pending_charge")
    op.drop_table("pending_charge")
