"""What a quota store is started with in tests: a ledger it can read and write, a clock, and
a shared store started as one replica would start it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.quota.orphans import CounterKey, Orphan
from gateway.quota.shared import RedisQuota


class Ledger:
    """The ledger side of a store: spend to start from, rows written, orphans reconciled."""

    def __init__(self, recorded: dict[tuple[str, int], int] | None = None) -> None:
        self.recorded = recorded or {}
        self.orphans: list[Orphan] = []
        self.spend: dict[CounterKey, int] = {}
        self.position = self.committed = 0  # rows queued / committed
        self._wake: Callable[[], None] = lambda: None

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._wake = callback

    def commit(self) -> None:
        self.committed = self.position
        self._wake()

    def recorded_cost(self, refs: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {r: self.recorded[r] for r in refs if r in self.recorded}

    def record_orphan(self, orphan: Orphan) -> None:
        self.orphans.append(orphan)

    def read(self) -> dict[CounterKey, int]:
        """The spend source: what the ledger has now."""
        return dict(self.spend)


class Clock:
    """Real time plus what the test moved it on by: time passes without waiting for it."""

    def __init__(self) -> None:
        self._ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self._ahead

    def advance(self, seconds: float) -> None:
        self._ahead += seconds


class Store(Protocol):
    """A Redis server or Redis Cluster started by the tests."""

    @property
    def url(self) -> str: ...


@asynccontextmanager
async def replica(
    store: Store, ledger: Ledger | None = None, **kw: Any
) -> AsyncIterator[RedisQuota]:
    """One "replica": a started `RedisQuota` on ``store``, closed after."""
    ledger = ledger or Ledger()
    q = RedisQuota(store.url, ZoneInfo("UTC"), **kw)
    await q.start(ledger.read, ledger)
    try:
        yield q
    finally:
        await q.aclose()
