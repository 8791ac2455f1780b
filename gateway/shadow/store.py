"""Where compared pairs go: the ``shadow_pair`` table, one INSERT each, off the event loop.

Pairs are a sample of a route's calls, so a plain insert per pair (in a
thread) is enough; nothing on a client's path waits for it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Engine

from gateway.db import core_moment
from gateway.shadow.table import ShadowPair

_TABLE = cast(Table, ShadowPair.__table__)  # type: ignore[attr-defined]


class PairStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def add(self, pair: ShadowPair) -> None:
        await asyncio.to_thread(self._insert, pair)

    def _insert(self, pair: ShadowPair) -> None:
        values = pair.model_dump(exclude={"id"})
        values["ts"] = core_moment(pair.ts, self._engine)
        with self._engine.begin() as conn:
            conn.execute(insert(_TABLE).values(**values))


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
