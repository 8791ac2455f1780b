"""The `pending_charge` statements, and the one that turns a pending ledger row into a bill.

Blocking: run in a thread. Two replicas may finish the same call at once (the
client's retrieve on one, the watcher on the other); the conditional UPDATE
of the ledger row is what lets exactly one of them bill it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Engine

from gateway.db import core_moment
from gateway.deferred.table import PendingCharge
from gateway.ledger.table import LedgerEntry
from gateway.metering.outcome import PENDING

_PENDING = cast(Table, PendingCharge.__table__)  # type: ignore[attr-defined]
_LEDGER = cast(Table, LedgerEntry.__table__)  # type: ignore[attr-defined]


def add(engine: Engine, charge: PendingCharge) -> None:
    values = charge.model_dump()
    values["created_at"] = core_moment(charge.created_at, engine)
    values["next_check_at"] = core_moment(charge.next_check_at, engine)
    with engine.begin() as conn:
        conn.execute(insert(_PENDING).values(**values))


def get(engine: Engine, object_ids: Sequence[str]) -> list[PendingCharge]:
    with engine.connect() as conn:
        rows = conn.execute(select(_PENDING).where(_PENDING.c.object_id.in_(object_ids)))
        return [_charge(row._mapping) for row in rows]


def due(engine: Engine, now: datetime, limit: int) -> list[PendingCharge]:
    """Charges whose next check has come, soonest first."""
    query = (
        select(_PENDING)
        .where(_PENDING.c.next_check_at <= core_moment(now, engine))
        .order_by(_PENDING.c.next_check_at)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_charge(row._mapping) for row in conn.execute(query)]


def claim(engine: Engine, charge: PendingCharge, next_check_at: datetime) -> bool:
    """Take this check of a charge: False if another replica took it first."""
    query = (
        update(_PENDING)
        .where(_PENDING.c.object_id == charge.object_id)
        .where(_PENDING.c.checks == charge.checks)
        .values(next_check_at=core_moment(next_check_at, engine), checks=charge.checks + 1)
    )
    with engine.begin() as conn:
        return conn.execute(query).rowcount == 1


def finish(engine: Engine, charge: PendingCharge, row: dict[str, Any]) -> bool | None:
    """Bill the call: its pending ledger row gets ``row``'s values and the charge goes.

    True: billed here. False: billed already (by another replica), the charge is gone.
    None: its ledger row is not written yet (still in a replica's write queue): later.
    """
    key = (_LEDGER.c.request_id == charge.request_id) & (_LEDGER.c.attempt == charge.attempt)
    with engine.begin() as conn:
        billed = conn.execute(
            update(_LEDGER).where(key & (_LEDGER.c.outcome == PENDING)).values(**row)
        ).rowcount
        if not billed and conn.execute(select(_LEDGER.c.id).where(key)).first() is None:
            return None
        conn.execute(delete(_PENDING).where(_PENDING.c.object_id == charge.object_id))
    return bool(billed)


def service_of(engine: Engine, charge: PendingCharge) -> str | None:
    """The service its ledger row names (the service cost metric counts the bill under it)."""
    key = (_LEDGER.c.request_id == charge.request_id) & (_LEDGER.c.attempt == charge.attempt)
    with engine.connect() as conn:
        return conn.execute(select(_LEDGER.c.service).where(key)).scalar_one_or_none()


def _charge(mapping: Any) -> PendingCharge:
    values = dict(mapping)
    for name in ("created_at", "next_check_at"):
        moment = values[name]
        if moment.tzinfo is None:
            values[name] = moment.replace(tzinfo=UTC)
    return PendingCharge(**values)
