"""The ledger and the ownership records.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=True),
        sa.Column("requested_model", sa.String(), nullable=False),
        sa.Column("served_model", sa.String(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("audio_input_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_audio_input_tokens", sa.Integer(), nullable=False),
        sa.Column("audio_output_tokens", sa.Integer(), nullable=False),
        sa.Column("image_input_tokens", sa.Integer(), nullable=False),
        sa.Column("tool_calls", sa.String(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("response_id", sa.String(), nullable=True),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("unpriced", sa.Boolean(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("session_id", sa.String(), nullable=True),
        sa.UniqueConstraint("request_id", "attempt", name="uq_ledger_request_attempt"),
    )
    op.create_index("ix_ledger_ts", "ledger", ["ts"])
    op.create_index("ix_ledger_tenant_ts", "ledger", ["tenant", "ts"])
    op.create_table(
        "response_owner",
        sa.Column("response_id", sa.String(128), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_response_owner_tenant", "response_owner", ["tenant"])


def downgrade() -> None:
    op.drop_table("response_owner")
    op.drop_table("ledger")
