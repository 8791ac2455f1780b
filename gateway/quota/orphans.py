"""What a quota store needs from the ledger: the spend to start from, where orphans go,
and how far the ledger has been written.

An orphan is a reservation whose replica died before settling it; the shared
store reconciles it against the ledger (`gateway.quota.shared`). The shared
store also moves a call's cost into a budget only once the call's ledger row
is committed, so the two agree even when a replica is killed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

CounterKey = tuple[str, str | None, str]  # tenant, model or None, window key
SpendSource = Callable[[], dict[CounterKey, int]]  # blocking: run in a thread


@dataclass(frozen=True, slots=True)
class Orphan:
    ticket: str
    tenant: str
    model: str
    bound: int
    ref: tuple[str, int] | None  # the ledger (request_id, attempt) it would have written
    admitted_at: float
    service: str | None = None  # the caller's service inside the tenant
    tags: str | None = None  # the call's cost-attribution tags, canonical


class LedgerLink(Protocol):
    @property
    def position(self) -> int:
        """Ledger records queued so far (the latest call's row is number ``position``)."""
        ...

    @property
    def committed(self) -> int:
        """Ledger records committed so far (in queue order)."""
        ...

    def on_commit(self, callback: Callable[[], None]) -> None: ...

    def recorded_cost(self, refs: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Costs of the attempts the ledger has (blocking: called in a thread)."""
        ...

    def record_orphan(self, orphan: Orphan) -> None:
        """Write the estimated row of an attempt the ledger lacks."""
        ...
