"""Shadow traffic: ledger rows say whose call they copied (`ledger.shadow_of`), and each
compared pair is kept (`shadow_pair`).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("shadow_of", sa.String(length=128), nullable=True))
    op.create_table(
        "shadow_pair",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("primary_model", sa.String(128), nullable=False),
        sa.Column("shadow_model", sa.String(128), nullable=False),
        sa.Column("primary_status", sa.Integer(), nullable=False),
        sa.Column("shadow_status", sa.Integer(), nullable=False),
        sa.Column("primary_ok", sa.Boolean(), nullable=False),
        sa.Column("shadow_ok", sa.Boolean(), nullable=False),
        sa.Column("primary_json_valid", sa.Boolean(), nullable=True),
        sa.Column("shadow_json_valid", sa.Boolean(), nullable=True),
        sa.Column("primary_refusal", sa.Boolean(), nullable=False),
        sa.Column("shadow_refusal", sa.Boolean(), nullable=False),
        sa.Column("primary_output_tokens", sa.Integer(), nullable=True),
        sa.Column("shadow_output_tokens", sa.Integer(), nullable=True),
        sa.Column("primary_chars", sa.Integer(), nullable=False),
        sa.Column("shadow_chars", sa.Integer(), nullable=False),
        sa.Column("primary_latency_ms", sa.Float(), nullable=False),
        sa.Column("shadow_latency_ms", sa.Float(), nullable=False),
        sa.Column("primary_cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("shadow_cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=True),
    )
    op.create_index("ix_shadow_pair_ts", "shadow_pair", ["ts"])
    op.create_index("ix_shadow_pair_route", "shadow_pair", ["route"])


def downgrade() -> None:
    op.drop_index("ix_shadow_pair_route", table_name="shadow_pair")
    op.drop_index("ix_shadow_pair_ts", table_name="shadow_pair")
    op.drop_table("shadow_pair")
    op.drop_column("ledger", "shadow_of")
