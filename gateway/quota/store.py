"""The admission interface the request path uses, whichever store holds the counters.

`MemoryQuota` holds them in this process (one replica); `RedisQuota` holds
them in Redis so that every replica admits against the same limits and
budgets. Admitting may wait on the store; settling never does (it is queued),
so the ``finally`` that meters a call cannot be held up by the store.
"""

from __future__ import annotations

from typing import Protocol
from zoneinfo import ZoneInfo

from gateway.config.runtime import Policy
from gateway.quota.memory import MemoryQuota
from gateway.quota.orphans import CounterKey, LedgerLink, SpendSource
from gateway.quota.ticket import BudgetStatus, Ticket
from gateway.quota.windows import Window, WindowKind


class Quota(Protocol):
    async def admit(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        *,
        bound: int,
        tokens: int,
        now: float,
        force: bool = False,
        ref: tuple[str, int] | None = None,
        service: str | None = None,
        tags: str | None = None,
    ) -> Ticket:
        """Hold the call's bound and rate share, or raise the refusal (429/503): the
        tenant's, its ``service``'s and those of the ``tags`` it carries."""
        ...

    def settle(self, ticket: Ticket, cost: int, tokens: int, now: float) -> None:
        """Replace the reservation with the real cost, exactly once per ticket."""
        ...

    def adjust(self, counters: tuple[CounterKey, ...], nanos: int) -> None:
        """Move settled spend by ``nanos`` (a held bound billed for less, or more)."""
        ...

    async def drain(self) -> None:
        """Wait until every settle so far is applied (queued ones included)."""
        ...

    async def open_session(self, tenant: str, limit: int | None) -> bool: ...

    def close_session(self, tenant: str) -> None: ...

    def status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        """Budget levels without waiting (a shared store answers from its last refresh)."""
        ...

    async def budget_status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        """Budget levels read now."""
        ...

    def tenants(self) -> list[str]: ...

    def windows(self, now: float) -> dict[WindowKind, Window]: ...

    async def start(self, spend: SpendSource, orphans: LedgerLink) -> None:
        """Connect and load this window's spend; ``orphans`` reconciles dead replicas' calls."""
        ...

    async def aclose(self) -> None: ...


def make_quota(tz: ZoneInfo, redis_url: str | None, alive_s: float = 10.0) -> Quota:
    if not redis_url:
        return MemoryQuota(tz)
    from gateway.quota.shared import RedisQuota  # redis is imported only when configured

    return RedisQuota(redis_url, tz, alive_ttl_s=alive_s, heartbeat_s=min(2.0, alive_s / 4))


__all__ = ["BudgetStatus", "Quota", "Ticket", "make_quota"]
