"""Tenant ownership of stored responses: recorded off the request path, checked on every access.

All tenants share one upstream key, so upstream anyone holding a response id
can read it. The gateway remembers who created each id. Records are visible
in this process at once (an in-memory map) and written to the database in
small batches by a :class:`BatchWriter`; a lookup that misses memory asks the
database, so ownership survives restarts and is shared by replicas.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Engine

from gateway.batching import BatchWriter
from gateway.db import db_timestamp, placeholder
from gateway.ownership.table import ResponseOwner

log = logging.getLogger(__name__)

_CACHE_MAX = 200_000
_TABLE = cast(Table, ResponseOwner.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class _Change:
    response_id: str
    tenant: str | None  # None: forget it
    at: datetime


class OwnershipStore:
    def __init__(self, engine: Engine, *, flush_interval_s: float = 0.05) -> None:
        self._engine = engine
        self._known: dict[str, str] = {}  # response id -> tenant (recent records and lookups)
        self._forgotten: set[str] = set()  # deleted here, maybe not yet in the database
        self._writer: BatchWriter[_Change] = BatchWriter(
            self._write,
            name="ownership",
            flush_interval_s=flush_interval_s,
            in_loop=engine.dialect.name == "sqlite",
        )
        # Lookups get their own thread, so they never queue behind a batch write.
        self._lookups = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ownership-lookup")

    def record(self, response_id: str, tenant: str) -> None:
        self._remember(response_id, tenant)
        self._forgotten.discard(response_id)
        self._writer.add(_Change(response_id, tenant, datetime.now(UTC)))

    def forget(self, response_id: str) -> None:
        self._known.pop(response_id, None)
        self._forgotten.add(response_id)
        self._writer.add(_Change(response_id, None, datetime.now(UTC)))

    async def owner_of(self, response_id: str) -> str | None:
        tenant = self._known.get(response_id)
        if tenant is not None or response_id in self._forgotten:
            return tenant
        loop = asyncio.get_running_loop()
        tenant = await loop.run_in_executor(self._lookups, self._select_owner, response_id)
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
        await self._writer.start()

    async def flush(self) -> None:
        await self._writer.flush()

    async def aclose(self) -> None:
        await self._writer.aclose()
        self._lookups.shutdown(wait=False)

    def _write(self, changes: list[_Change]) -> None:
        final: dict[str, _Change] = {}
        for change in changes:  # in order: the last change of an id wins
            final[change.response_id] = change
        gone = [c.response_id for c in final.values() if c.tenant is None]
        with self._engine.begin() as conn:
            sqlite = conn.dialect.name == "sqlite"
            rows = [
                (c.response_id, c.tenant, db_timestamp(c.at, sqlite))
                for c in final.values()
                if c.tenant is not None
            ]
            if rows:
                mark = placeholder(conn.dialect.paramstyle)
                conn.exec_driver_sql(
                    "INSERT INTO response_owner (response_id, tenant, created_at) "  # noqa: S608
                    f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT (response_id) DO NOTHING",
                    rows,
                )
            if gone:
                conn.execute(delete(_TABLE).where(_TABLE.c.response_id.in_(gone)))
