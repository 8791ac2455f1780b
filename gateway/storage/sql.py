"""The storage meter's statements: blocking, run in a worker thread."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from gateway.ownership.table import VECTOR_STORES_ONLY, ObjectOwner
from gateway.storage.table import StorageCharge

_OWNER = cast(Table, ObjectOwner.__table__)  # type: ignore[attr-defined]
_CHARGE = cast(Table, StorageCharge.__table__)  # type: ignore[attr-defined]


class Due(NamedTuple):
    """A vector store whose day is not charged yet, and the tenant it is charged to."""

    store_id: str
    tenant: str


def due_stores(
    engine: Engine, day: date, created_before: datetime, after: str | None, limit: int
) -> list[Due]:
    """Up to ``limit`` vector stores, in id order after ``after``, that existed before
    ``created_before`` and have no charge for ``day`` yet (by any replica)."""
    o, c = _OWNER.c, _CHARGE.c
    joined = _OWNER.outerjoin(_CHARGE, and_(c.store_id == o.object_id, c.day == day))
    # The kind as SQL text, not a parameter: so the partial index is used for certain.
    query = (
        select(o.object_id, o.tenant)
        .select_from(joined)
        .where(VECTOR_STORES_ONLY, o.created_at < created_before, c.store_id.is_(None))
    )
    if after is not None:
        query = query.where(o.object_id > after)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(o.object_id).limit(limit)).all()
    return [Due(r[0], r[1]) for r in rows]


def claim(engine: Engine, due: Due, day: date, usage_bytes: int | None, at: datetime) -> bool:
    """Insert the (store, day) row; False if it was there already (charged elsewhere)."""
    with engine.begin() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(_CHARGE)
            .values(
                store_id=due.store_id,
                day=day,
                tenant=due.tenant,
                usage_bytes=usage_bytes,
                charged_at=at,
            )
            .on_conflict_do_nothing(index_elements=["store_id", "day"])
            .returning(
                _CHARGE.c.store_id
            )  # a row back only if inserted (rowcount is -1 on psycopg)
        )
        return conn.execute(statement).first() is not None
