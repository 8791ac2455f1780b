"""Alembic environment: runs on the connection `gateway.db.upgrade` hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import gateway.deferred.table
import gateway.ledger.table
import gateway.ownership.table
import gateway.shadow.table
import gateway.storage.table  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata)
with context.begin_transaction():
    context.run_migrations()
