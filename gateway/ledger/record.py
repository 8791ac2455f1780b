"""What the request path hands the ledger, and how a record becomes an INSERT's parameters.

A ledger row is described once, by `gateway.ledger.table.LedgerEntry`. Building
that SQLModel object costs ~55 µs (SQLAlchemy instrumentation) and a validated
pydantic model several µs, on every metered call; so `LedgerRecord` is a frozen
slotted dataclass generated from the same fields (~3 µs). The type checker sees
`LedgerEntry` itself, so every ``LedgerRecord(...)`` is checked against the table.

`row_layout` turns records into DBAPI parameter tuples in the table's column
order, worked out once per dialect from the column types: timestamps to UTC
(SQLite: SQLAlchemy's storage text), strings cut to their column's length, the
gateway's own column types through their bind processor; everything else the
DBAPI takes as it is. So the writer hands a batch to one ``executemany``
without SQLAlchemy's per-row parameter processing (~20 µs a row).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import DateTime, Dialect, String, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel.sql.sqltypes import AutoString

from gateway.db import db_timestamp
from gateway.ledger.table import LedgerEntry
from gateway.records import columns_of, record_class

TABLE = cast(Table, LedgerEntry.__table__)  # type: ignore[attr-defined]
COLUMNS = columns_of(LedgerEntry)
"""The columns a record fills, in table order (the primary key is the database's)."""


if TYPE_CHECKING:
    LedgerRecord = LedgerEntry
else:
    LedgerRecord = record_class(
        LedgerEntry,
        "LedgerRecord",
        __name__,
        "One upstream attempt, metered: a `LedgerEntry` row, cheap to build.",
    )


def as_utc(ts: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if ts.tzinfo is UTC:  # the recorder's own timestamps: nothing to convert
        return ts
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class RowLayout:
    """The INSERT's columns, and how to turn a record into its parameters for one dialect."""

    columns: tuple[str, ...]
    read: Callable[[Any], tuple[Any, ...]]  # a record's values in `columns` order
    convert: tuple[tuple[int, Converter], ...]  # (position, converter) where the DBAPI needs one

    def values(self, rec: LedgerRecord) -> tuple[Any, ...]:
        """One record as DBAPI parameters, in `columns` order (a tuple: SQLAlchemy wants one)."""
        out = list(self.read(rec))
        for i, convert in self.convert:
            out[i] = convert(out[i])
        return tuple(out)

    def rows(self, records: Sequence[LedgerRecord]) -> list[tuple[Any, ...]]:
        return [self.values(r) for r in records]


@functools.lru_cache(maxsize=8)  # one per engine's dialect
def row_layout(dialect: Dialect) -> RowLayout:
    """How each column's value goes to this dialect's DBAPI, worked out once from the table."""
    convert: list[tuple[int, Converter]] = []
    for i, name in enumerate(COLUMNS):
        column = TABLE.c[name]
        step = _converter(column.type, dialect)
        if step is not None:
            convert.append((i, _none_passes(step) if column.nullable else step))
    return RowLayout(COLUMNS, operator.attrgetter(*COLUMNS), tuple(convert))


def _converter(kind: Any, dialect: Dialect) -> Converter | None:
    """None where the DBAPI takes the Python value as it is (int, float, bool, str)."""
    if isinstance(kind, DateTime):
        if dialect.name == "sqlite":  # SQLAlchemy's storage text, naive UTC
            return lambda at: db_timestamp(as_utc(at), True)
        return as_utc
    if isinstance(kind, TypeDecorator) and not isinstance(kind, AutoString):
        return cast(Converter, kind.bind_processor(dialect))  # our own types (JSONCounts)
    base = kind.impl if isinstance(kind, TypeDecorator) else kind
    if isinstance(base, String) and base.length:
        return operator.itemgetter(slice(base.length))  # PostgreSQL would refuse the batch
    return None


def _none_passes(step: Converter) -> Converter:
    return lambda value: None if value is None else step(value)
