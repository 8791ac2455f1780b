"""The ledger keeps each call's cost-attribution tags: `ledger.tags`.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("tags", sa.String(length=512), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger", "tags")
