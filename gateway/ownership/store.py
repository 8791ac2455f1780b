"""Tenant ownership of upstream objects: recorded beside the request path, checked on every access.

All tenants share one upstream key, so upstream anyone holding an object id can
read it. The gateway remembers who created each id. A record is visible in this
process at once (an in-memory map) and reaches the database, shared by every
replica, in one of two ways:

- `record` batches it (a `BatchWriter`, 50 ms): responses are created at
  thousands a second, and a write per response would cost more than the call.
- `record_now` writes it through before returning: files, vector stores and
  the like are created and then used at once, often through another replica
  behind a load balancer.

Both go through the same ordered queue, so a write-through never overtakes a
batched change of the same id (a `forget_now` after a batched `record` cannot
be undone by that record's later batch).

A lookup that misses memory asks the database; one that misses there too waits
once for a batch window (`settle_s`) and asks again before answering "not
owned": an id recorded by another replica a few milliseconds earlier may still
be in that replica's queue. Only unknown ids pay this wait in `owner_of`;
`owned_by` makes another tenant's id pay it too, so a probe cannot tell the two
apart by time.

A replica's memory is not told about deletions made through another replica: it
keeps answering with the old owner, the tenant that deleted the object, whose
next call gets the upstream's own "not found".
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from sqlalchemy.engine import Engine

from gateway.batching import BatchWriter
from gateway.ownership import sql
from gateway.ownership.sql import Change, Owned
from gateway.ownership.table import ID_MAX, ObjectKind

T = TypeVar("T")
log = logging.getLogger(__name__)

_CACHE_MAX = 200_000
# Beyond the flush interval, what a batch on another replica may still take: the
# writer's wake-up, the insert and its commit (a few ms on a loaded PostgreSQL).
SETTLE_MARGIN_S = 0.05


class OwnershipStore:
    def __init__(
        self,
        engine: Engine,
        *,
        flush_interval_s: float = 0.05,
        settle_margin_s: float = SETTLE_MARGIN_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``flush_interval_s`` must be the one every replica uses: a miss waits for
        it (plus ``settle_margin_s``) through ``sleep``, which tests replace."""
        self._engine = engine
        self._known: dict[str, str] = {}  # object id -> tenant (recent records and lookups)
        # Ids forgotten here whose deletion may not be in the database yet, with the
        # number of their last forget: a lookup must not bring them back from a row
        # that is about to go.
        self._forgotten: dict[str, int] = {}
        self._forgets = 0
        # Deletions written, kept in `_forgotten` until no lookup that began before
        # their commit is still under way: (lookups started at commit, id, forget number).
        self._settled: deque[tuple[int, str, int]] = deque()
        self._just_written: list[tuple[str, int]] = []  # from the writer to `_on_written`
        self._lookups_started = 0
        self._open_lookups: set[int] = set()  # numbers of the lookups under way
        self._settle_s = flush_interval_s + settle_margin_s
        self._sleep = sleep
        self._closed = False
        self._writer: BatchWriter[Change] = BatchWriter(
            self._write,
            name="ownership",
            flush_interval_s=flush_interval_s,
            in_loop=engine.dialect.name == "sqlite",
        )
        self._writer.on_written = self._on_written
        # Lookups get their own thread, so they never queue behind a batch write.
        self._lookups = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ownership-lookup")

    @property
    def settle_s(self) -> float:
        """How long a lookup of an unknown id waits before its second query."""
        return self._settle_s

    def record(self, object_id: str, tenant: str, kind: ObjectKind = "response") -> None:
        """Owned by ``tenant`` here at once, in the database within a flush interval.

        Raises ValueError for an id or tenant longer than the column: written, it
        would fail its whole batch on PostgreSQL, again at every retry.
        """
        if len(object_id) > ID_MAX or len(tenant) > ID_MAX:
            raise ValueError(f"ownership: id or tenant over {ID_MAX} characters: {object_id!r}")
        known = self._known
        if len(known) >= _CACHE_MAX:
            known.clear()
        known[object_id] = tenant
        if self._forgotten:
            self._forgotten.pop(object_id, None)
        self._writer.add(Change(object_id, kind, tenant, datetime.now(UTC)))

    def record_all(self, object_ids: Sequence[str], tenant: str, kind: ObjectKind) -> None:
        """`record` for several ids at once (a response's items): one timestamp, one queue add.

        Ids come from upstream answers here, so one that could not be stored is left
        out with a warning (it stays unusable by anyone) instead of failing the call.
        """
        if not object_ids:
            return
        if len(tenant) > ID_MAX:
            raise ValueError(f"ownership: tenant over {ID_MAX} characters: {tenant!r}")
        if any(len(object_id) > ID_MAX for object_id in object_ids):
            log.warning("ownership: an id over %d characters is not recorded", ID_MAX)
            object_ids = [object_id for object_id in object_ids if len(object_id) <= ID_MAX]
        known = self._known
        if len(known) + len(object_ids) > _CACHE_MAX:
            known.clear()
        known.update(dict.fromkeys(object_ids, tenant))
        if self._forgotten:
            for object_id in object_ids:
                self._forgotten.pop(object_id, None)
        at = datetime.now(UTC)
        self._writer.add_all([Change(object_id, kind, tenant, at) for object_id in object_ids])

    async def record_now(self, object_id: str, tenant: str, kind: ObjectKind) -> None:
        """`record`, in the database when this returns (every replica sees it).

        If the write fails the error is raised and the record stays queued: it is
        known here at once and retried with the next batch.
        """
        self._require_open()
        self.record(object_id, tenant, kind)
        await self._writer.flush()

    def forget(self, object_id: str) -> None:
        """No longer owned here at once; deleted from the database with the next batch."""
        self._known.pop(object_id, None)
        self._forgets += 1
        self._forgotten[object_id] = self._forgets
        self._writer.add(Change(object_id, "", None, datetime.now(UTC), self._forgets))

    async def forget_now(self, object_id: str) -> None:
        """`forget`, deleted from the database when this returns."""
        self._require_open()
        self.forget(object_id)
        await self._writer.flush()

    async def owner_of(self, object_id: str, *, settle: bool = True) -> str | None:
        """The owning tenant, or None. ``settle=False`` skips the wait for other
        replicas' batches (for ids known to be written through)."""
        for attempt in range(2 if settle else 1):
            if attempt:
                await self._sleep(self._settle_s)
            tenant = self._known.get(object_id)
            if tenant is not None or object_id in self._forgotten:
                return tenant
            tenant = await self._fetch(object_id)
            if tenant is not None:
                return tenant
        return None

    async def owned_by(self, object_id: str, tenant: str, *, settle: bool = True) -> bool:
        """With ``settle``, "no" takes the settle wait for another tenant's id as for an
        unknown one: the two must look alike to a caller probing ids, in time too."""
        owner = await self.owner_of(object_id, settle=settle)
        if owner == tenant:
            return True
        if owner is not None and settle:
            await self._sleep(self._settle_s)
        return False

    async def owners_of(self, object_ids: Iterable[str], *, settle: bool = True) -> dict[str, str]:
        """The owners of those of ``object_ids`` that have one, for filtering a list page:
        memory first, then one query for the rest (and one more after the settle wait
        if some are still unknown)."""
        found: dict[str, str] = {}
        unknown = list(dict.fromkeys(object_ids))
        for attempt in range(2 if settle else 1):
            if attempt:
                await self._sleep(self._settle_s)
            missing: list[str] = []
            for object_id in unknown:
                tenant = self._known.get(object_id)
                if tenant is not None:
                    found[object_id] = tenant
                elif object_id not in self._forgotten:
                    missing.append(object_id)
            if not missing:
                break
            found.update(await self._fetch_many(missing))
            unknown = [object_id for object_id in missing if object_id not in found]
            if not unknown:
                break
        return found

    async def owned_ids(
        self,
        tenant: str,
        kind: ObjectKind,
        *,
        limit: int,
        after: Owned | None = None,
        newest_first: bool = True,
    ) -> list[Owned]:
        """One page of a tenant's objects of a kind; pass the last one as ``after`` for
        the next. This replica's queued records are written first so they are listed;
        other replicas' batched records appear once written."""
        await self._writer.flush()
        query = partial(sql.select_owned, self._engine, tenant, kind, limit, after, newest_first)
        return await self._run(query)

    async def start(self) -> None:
        await self._writer.start()

    async def flush(self) -> None:
        await self._writer.flush()

    async def aclose(self) -> None:
        self._closed = True
        await self._writer.aclose()
        self._lookups.shutdown(wait=False)

    async def _fetch(self, object_id: str) -> str | None:
        with self._lookup():
            tenant = await self._run(partial(sql.select_owner, self._engine, object_id))
            if object_id in self._forgotten:  # forgotten while the query ran
                return None
            if tenant is None:  # maybe recorded here while the query ran
                return self._known.get(object_id)
            self._remember(object_id, tenant)
            return tenant

    async def _fetch_many(self, object_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lookup():
            rows = await self._run(partial(sql.select_owners, self._engine, object_ids))
            for object_id in object_ids:
                if object_id in self._forgotten:
                    continue
                tenant = rows.get(object_id)
                if tenant is not None:
                    self._remember(object_id, tenant)
                else:
                    tenant = self._known.get(object_id)
                if tenant is not None:
                    found[object_id] = tenant
        return found

    async def _run(self, query: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._lookups, query)

    @contextmanager
    def _lookup(self) -> Iterator[None]:
        """Numbers a lookup, so the deletions it might have missed stay in `_forgotten`
        until it has checked them."""
        number = self._lookups_started
        self._lookups_started += 1
        self._open_lookups.add(number)
        try:
            yield
        finally:
            self._open_lookups.discard(number)
            if self._settled:
                self._drop_settled()

    def _remember(self, object_id: str, tenant: str) -> None:
        if len(self._known) >= _CACHE_MAX:
            self._known.clear()
        self._known[object_id] = tenant

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError("ownership store is closed: the record would be lost")

    def _write(self, changes: list[Change]) -> None:
        """The writer's batch (its thread, or the loop on SQLite)."""
        self._just_written.extend(sql.write(self._engine, changes))

    def _on_written(self) -> None:
        """After each batch, on the loop: its deletions can leave `_forgotten` once every
        lookup that might have read the deleted rows is over."""
        if not self._just_written:
            return
        started = self._lookups_started
        self._settled.extend((started, oid, n) for oid, n in self._just_written)
        self._just_written = []
        self._drop_settled()

    def _drop_settled(self) -> None:
        oldest_open = min(self._open_lookups, default=self._lookups_started)
        settled, forgotten = self._settled, self._forgotten
        while settled and settled[0][0] <= oldest_open:
            _, object_id, number = settled.popleft()
            if forgotten.get(object_id) == number:  # not forgotten again since
                del forgotten[object_id]
