"""Ownership of every object kind: `object_owner` replaces `response_owner`.

Revision ID: 0002
Revises: 0001

The response records move over as kind 'response'. A downgrade moves the
response records back and loses the records of every other kind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_owner",
        sa.Column("object_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_object_owner_tenant_kind_created_at",
        "object_owner",
        ["tenant", "kind", "created_at"],
    )
    op.execute(
        "INSERT INTO object_owner (object_id, kind, tenant, created_at) "
        "SELECT response_id, 'response', tenant, created_at FROM response_owner"
    )
    op.drop_index("ix_response_owner_tenant", table_name="response_owner")
    op.drop_table("response_owner")


def downgrade() -> None:
    op.create_table(
        "response_owner",
        sa.Column("response_id", sa.String(128), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_response_owner_tenant", "response_owner", ["tenant"])
    op.execute(
        "INSERT INTO response_owner (response_id, tenant, created_at) "
        "SELECT object_id, tenant, created_at FROM object_owner WHERE kind = 'response'"
    )
    op.drop_table("object_owner")
