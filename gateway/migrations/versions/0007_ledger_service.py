"""The ledger says which service inside the tenant made each call: `ledger.service`.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("service", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger", "service")
