"""Where compared pairs go: the ``shadow_pair`` table, written in batches off the request path.

A pair is a plain record (`PairRecord`), queued on the event loop and written
with others in one ``executemany`` (`gateway.batching`, as the ledger's rows:
on the loop for a SQLite file, in the writer's thread otherwise). One INSERT
and commit per pair in a thread cost two thirds of a shadow's CPU
(bench/README.md, decision 19).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Engine

from gateway.batching import BatchWriter
from gateway.db import core_moment
from gateway.records import columns_of
from gateway.shadow.table import PairRecord, ShadowPair

_TABLE = cast(Table, ShadowPair.__table__)  # type: ignore[attr-defined]
_COLUMNS = columns_of(ShadowPair)


class PairStore:
    def __init__(self, engine: Engine, *, flush_interval_s: float = 1.0) -> None:
        self._engine = engine
        self._writer: BatchWriter[PairRecord] = BatchWriter(
            self._write,
            name="shadow-pairs",
            flush_interval_s=flush_interval_s,
            in_loop=engine.dialect.name == "sqlite",
        )

    def add(self, pair: PairRecord) -> None:
        """Queue one pair; never blocks (call from the event loop)."""
        self._writer.add(pair)

    async def start(self) -> None:
        await self._writer.start()

    async def flush(self) -> None:
        await self._writer.flush()

    async def aclose(self) -> None:
        await self._writer.aclose()

    def _write(self, pairs: list[PairRecord]) -> None:
        rows = [self._values(p) for p in pairs]
        with self._engine.begin() as conn:
            conn.execute(insert(_TABLE), rows)

    def _values(self, pair: PairRecord) -> dict[str, Any]:
        values = {name: getattr(pair, name) for name in _COLUMNS}
        values["ts"] = core_moment(pair.ts, self._engine)
        return values


def pairs(engine: Engine, route: str, since: datetime) -> list[ShadowPair]:
    """A route's pairs since a moment, oldest first (blocking: call from a thread or the CLI)."""
    query = (
        select(_TABLE)
        .where(_TABLE.c.route == route)
        .where(_TABLE.c.ts >= core_moment(since, engine))
        .order_by(_TABLE.c.ts)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for row in rows:
        pair = ShadowPair.model_validate(dict(row))
        if pair.ts.tzinfo is None:  # SQLite keeps naive UTC
            pair.ts = pair.ts.replace(tzinfo=UTC)
        out.append(pair)
    return out
