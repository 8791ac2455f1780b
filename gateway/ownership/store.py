"""Tenant ownership of stored responses: recorded off the request path, checked on every access.

All tenants share one upstream key, so upstream anyone holding a response id
can read it. The gateway remembers who created each id. Records are visible
in this process at once (an in-memory map) and written to the database in
small batches by a background task; a lookup that misses memory asks the
database, so ownership survives restarts and is shared by replicas.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Engine

from gateway.ownership.table import ResponseOwner

log = logging.getLogger(__name__)

_CACHE_MAX = 200_000
_T = TypeVar("_T")
_TABLE = cast(Table, ResponseOwner.__table__)  # type: ignore[attr-defined]


class OwnershipStore:
    def __init__(self, engine: Engine, *, flush_interval_s: float = 0.05) -> None:
        self._engine = engine
        self._interval = flush_interval_s
        self._known: dict[str, str] = {}  # response id -> tenant (recent records and lookups)
        self._to_insert: dict[str, tuple[str, datetime]] = {}
        self._to_delete: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Two threads: a lookup need not wait behind a batch write. (asyncio's
        # default pool would grow to six threads, each with its own malloc arena.)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ownership-db")

    def record(self, response_id: str, tenant: str) -> None:
        self._remember(response_id, tenant)
        self._to_insert[response_id] = (tenant, datetime.now(UTC))
        self._to_delete.discard(response_id)
        self._wake.set()

    def forget(self, response_id: str) -> None:
        self._known.pop(response_id, None)
        self._to_insert.pop(response_id, None)
        self._to_delete.add(response_id)
        self._wake.set()

    async def owner_of(self, response_id: str) -> str | None:
        tenant = self._known.get(response_id)
        if tenant is not None or response_id in self._to_delete:
            return tenant
        tenant = await self._in_thread(self._select_owner, response_id)
        if tenant is not None:
            self._remember(response_id, tenant)
        return tenant

    async def owned_by(self, response_id: str, tenant: str) -> bool:
        return await self.owner_of(response_id) == tenant

    def _remember(self, response_id: str, tenant: str) -> None:
        if len(self._known) >= _CACHE_MAX:
            self._known.clear()
        self._known[response_id] = tenant

    def _select_owner(self, response_id: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.tenant).where(_TABLE.c.response_id == response_id)
            ).first()
        return row[0] if row else None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ownership-writer")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
        self._pool.shutdown(wait=False)

    async def _in_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing ownership records failed; will retry")
            await asyncio.sleep(self._interval)

    async def flush(self) -> None:
        inserts, self._to_insert = self._to_insert, {}
        deletes, self._to_delete = self._to_delete, set()
        if not inserts and not deletes:
            return
        try:
            await self._in_thread(self._write, inserts, deletes)
        except Exception:
            # Put them back so a transient database error loses nothing.
            self._to_insert = inserts | self._to_insert
            self._to_delete |= deletes
            raise

    def _write(self, inserts: dict[str, tuple[str, datetime]], deletes: set[str]) -> None:
        table = _TABLE
        rows = [{"response_id": r, "tenant": t, "created_at": at} for r, (t, at) in inserts.items()]
        with self._engine.begin() as conn:
            if rows:
                conn.execute(_insert_ignoring_duplicates(conn.dialect.name, table, rows))
            if deletes:
                conn.execute(delete(table).where(table.c.response_id.in_(deletes)))


def _insert_ignoring_duplicates(dialect: str, table: Table, rows: list[dict[str, Any]]) -> Any:
    # Imported here: only the dialect in use is loaded (PostgreSQL's costs memory).
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).values(rows).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).values(rows).on_conflict_do_nothing()
