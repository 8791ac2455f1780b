"""Calls still running upstream after their answer (batches): their bound stays charged.

One row per such call, from the answer that started it until the gateway
bills what it used; while the row exists its ledger row says ``pending`` and
carries the bound. It lives in the gateway's database, not in a replica, so
any replica — or the one that restarts — finishes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Text
from sqlmodel import Field, SQLModel


class PendingCharge(SQLModel, table=True):
    __tablename__ = "pending_charge"

    object_id: str = Field(primary_key=True, max_length=128)  # the upstream object: batch_…
    kind: str = Field(max_length=32)
    tenant: str = Field(max_length=128)
    request_id: str = Field(max_length=64)  # its ledger row: (request_id, attempt)
    attempt: int
    model: str = Field(max_length=128)  # as priced: the upstream's model name
    upstream: str = Field(max_length=64)  # where to ask how it is going
    bound_nanos: int = Field(sa_type=BigInteger)  # charged while it runs
    counters: str = Field(sa_type=Text)  # JSON: the budget counters the bound went into
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    next_check_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    checks: int = 0
