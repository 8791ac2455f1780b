"""Which tenant created each stored upstream object."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class ResponseOwner(SQLModel, table=True):
    __tablename__ = "response_owner"

    response_id: str = Field(primary_key=True, max_length=128)
    tenant: str = Field(index=True, max_length=128)
    created_at: datetime
