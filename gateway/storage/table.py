"""Which vector store's storage is charged for which day: the once-per-(store, day) claim.

A replica inserts the row before it writes the ledger row; the primary key
makes a second insert for the same store and day fail, so whichever replica
(or earlier run) inserted first is the only one that charges.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field, SQLModel

from gateway.ownership.table import ID_MAX


class StorageCharge(SQLModel, table=True):
    __tablename__ = "storage_charge"

    store_id: str = Field(primary_key=True, max_length=ID_MAX)
    day: date = Field(primary_key=True)  # UTC
    tenant: str = Field(max_length=ID_MAX)
    # As the upstream reported it when polled; None when the store was gone upstream
    # (404): the day is settled, nothing charged.
    usage_bytes: int | None = Field(default=None, sa_type=BigInteger)
    charged_at: datetime = Field(sa_type=DateTime(timezone=True))  # naive on SQLite = UTC
