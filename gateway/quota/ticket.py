"""What admission hands out and reports, the same whichever store holds the counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.quota.orphans import CounterKey


@dataclass(slots=True)
class Ticket:
    """An admitted call: what it holds, to be settled exactly once."""

    tenant: str
    model: str
    bound: int
    tokens: int
    counters: tuple[CounterKey, ...]
    headers: dict[str, str] = field(default_factory=dict)
    over_budget: bool = False  # soft mode admitted it past a budget
    settled: bool = False
    unlimited: bool = False  # the tenant has no limits or budgets: nothing is held
    id: str = ""  # the shared store's reservation id ("" when held in this process)
    ref: tuple[str, int] | None = None  # ledger (request_id, attempt), to reconcile an orphan
    epoch: bytes | None = None  # the shared store's seeding it was admitted under
    holds_share: bool = False  # the shared store holds a concurrency share or tokens for it
    service: str | None = None  # the service whose own limits it holds (None: none)
    # The caller's service and cost tags, for the row of an orphan (a shared store's call
    # whose replica died before writing it): it is counted where the call would have been.
    attribution: tuple[str | None, str | None] = (None, None)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    window: str
    model: str | None
    limit_nanos: int
    spent_nanos: int
    reserved_nanos: int
    resets_at: datetime
    scope: str | None = None  # the counter's scope (`gateway.config.scopes`): model, service, tag

    @property
    def remaining_nanos(self) -> int:
        return max(0, self.limit_nanos - self.spent_nanos - self.reserved_nanos)


def unlimited_ticket(tenant: str, model: str, bound: int, tokens: int) -> Ticket:
    """The ticket of a call nothing is counted for: settling it changes nothing."""
    return Ticket(tenant, model, bound, tokens, (), {}, False, False, unlimited=True)
