"""The `object_owner` statements: blocking, for the store's writer and lookup threads.

Writes go through the DBAPI directly (one ``executemany``): a batch holds up to a
thousand rows, and SQLAlchemy's per-row processing cost more than the insert.
Reads use SQLAlchemy Core, whose compiled statements are cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, and_, delete, inspect, or_, select
from sqlalchemy.engine import Engine

from gateway.db import db_timestamp, placeholder
from gateway.ownership.table import ObjectOwner

_TABLE = cast(Table, ObjectOwner.__table__)  # type: ignore[attr-defined]
_C = _TABLE.c
_IN_CHUNK = 500  # ids per IN (...): far below every driver's parameter limit


class Change(NamedTuple):
    """One record (``tenant`` set) or deletion (``tenant`` None) waiting to be written.

    A tuple, not a frozen dataclass: one is made per response and per item on the
    request path, and a tuple is built several times faster."""

    object_id: str
    kind: str
    tenant: str | None
    at: datetime
    seq: int = 0  # a deletion's number, so the store knows which of its forgets are written


@dataclass(frozen=True, slots=True)
class Owned:
    """One of a tenant's objects, as listed; also the cursor for the next page."""

    object_id: str
    created_at: datetime


def write(engine: Engine, changes: Sequence[Change]) -> list[tuple[str, int]]:
    """Apply changes in order in one transaction; the deletions written, as (id, seq).

    An id deleted and then recorded again in the same batch is deleted first, so the
    new record is the one kept; an id recorded twice keeps its first owner (an insert
    never takes an id over).
    """
    final: dict[str, Change] = {}
    for change in changes:
        final[change.object_id] = change
    gone = [c.object_id for c in changes if c.tenant is None]
    with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if gone:
            conn.execute(delete(_TABLE).where(_C.object_id.in_(sorted(set(gone)))))
        stamps: dict[datetime, datetime | str] = {}  # a response's items share one time
        rows = [
            (c.object_id, c.kind, c.tenant, stamps.get(c.at) or _stamp(stamps, c.at, sqlite))
            for c in final.values()
            if c.tenant is not None
        ]
        if rows:
            mark = placeholder(conn.dialect.paramstyle)
            conn.exec_driver_sql(
                "INSERT INTO object_owner (object_id, kind, tenant, created_at) "  # noqa: S608
                f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (object_id) DO NOTHING",
                rows,
            )
    return [(c.object_id, c.seq) for c in changes if c.tenant is None]


def _stamp(stamps: dict[datetime, datetime | str], at: datetime, sqlite: bool) -> datetime | str:
    stamp = stamps[at] = db_timestamp(at, sqlite)
    return stamp


def select_owner(engine: Engine, object_id: str) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(select(_C.tenant).where(_C.object_id == object_id)).first()
    return row[0] if row else None


def select_owners(engine: Engine, object_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(object_ids), _IN_CHUNK):
            chunk = object_ids[start : start + _IN_CHUNK]
            query = select(_C.object_id, _C.tenant).where(_C.object_id.in_(chunk))
            found.update((row[0], row[1]) for row in conn.execute(query))
    return found


def select_owned(
    engine: Engine, tenant: str, kind: str, limit: int, after: Owned | None, newest_first: bool
) -> list[Owned]:
    """One page of a tenant's objects of a kind, ordered by (created_at, object_id)."""
    query = select(_C.object_id, _C.created_at).where(_C.tenant == tenant, _C.kind == kind)
    if after is not None:
        at = after.created_at
        beyond = (
            or_(_C.created_at < at, and_(_C.created_at == at, _C.object_id < after.object_id))
            if newest_first
            else or_(_C.created_at > at, and_(_C.created_at == at, _C.object_id > after.object_id))
        )
        query = query.where(beyond)
    order = (
        (_C.created_at.desc(), _C.object_id.desc())
        if newest_first
        else (_C.created_at.asc(), _C.object_id.asc())
    )
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(*order).limit(limit)).all()
    return [Owned(r[0], _utc(r[1])) for r in rows]


def adopt_response_owners(engine: Engine) -> int:
    """Move a SQLite file's `response_owner` rows (before 0002) into `object_owner`.

    SQLite tables are created at start, not migrated, so this does for SQLite what
    migration 0002 does for a server database; it is a no-op once the old table is gone.
    Returns the rows moved.
    """
    if not inspect(engine).has_table("response_owner"):
        return 0
    with engine.begin() as conn:
        moved = conn.exec_driver_sql(
            "INSERT OR IGNORE INTO object_owner (object_id, kind, tenant, created_at) "
            "SELECT response_id, 'response', tenant, created_at FROM response_owner"
        ).rowcount
        conn.exec_driver_sql("DROP TABLE response_owner")
    return moved


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
