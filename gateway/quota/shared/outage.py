"""What a replica does while Redis is unreachable: each tenant's ``when_store_down``.

``closed`` refuses with 503; ``open`` admits against this replica's own
limits (`MemoryQuota`), with budgets starting from the last levels read from
Redis. Spend admitted that way goes to `reseed`, which adds it to Redis when
it is back; sessions opened that way are closed here, not in Redis.
"""

from __future__ import annotations

from gateway.config.runtime import Policy
from gateway.quota.errors import store_unavailable
from gateway.quota.memory import MemoryQuota
from gateway.quota.orphans import LedgerLink
from gateway.quota.shared.health import Health
from gateway.quota.shared.levels import BudgetLevels
from gateway.quota.shared.reseed import Seeding, Spend
from gateway.quota.ticket import Ticket


class FailOpen:
    def __init__(
        self, local: MemoryQuota, health: Health, levels: BudgetLevels, seeding: Seeding
    ) -> None:
        self._local, self._health, self._levels, self._seeding = local, health, levels, seeding
        self._sessions: dict[str, int] = {}  # sessions counted here while Redis was away
        self.admits = 0

    def admit(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        bound: int,
        tokens: int,
        now: float,
        force: bool,
        exc: Exception | None,
        service: str | None = None,
        tags: str | None = None,
    ) -> Ticket:
        """Refuse (closed) or admit against this replica's limits (open)."""
        if policy.when_store_down == "closed" and not force:
            raise store_unavailable(exc)
        if self._health.first_fallback():  # budgets start from the last levels Redis gave
            self._local.set_spent(self._levels.last())
        self.admits += 1
        return self._local.admit_now(
            tenant, model, policy, bound=bound, tokens=tokens, now=now, force=force,
            service=service, tags=tags,
        )  # fmt: skip

    def settle(
        self, ticket: Ticket, cost: int, tokens: int, now: float, ledger: LedgerLink | None
    ) -> None:
        """A ticket admitted here (or unlimited): its spend waits for Redis in the backlog."""
        self._local.settle(ticket, cost, tokens, now)
        if ticket.counters and ledger is not None:
            epoch = self._seeding.epochs.get(ticket.tenant)
            spend = Spend(ledger.position, ticket.counters, cost, epoch=epoch)
            self._seeding.owe(spend)

    def open_session(self, tenant: str, limit: int | None) -> bool:
        if not self._local.open_session_now(tenant, limit):
            return False
        self._sessions[tenant] = self._sessions.get(tenant, 0) + 1
        return True

    def close_session(self, tenant: str) -> bool:
        """Close a session counted here; False if it was counted in Redis."""
        if not self._sessions.get(tenant):
            return False
        self._sessions[tenant] -= 1
        self._local.close_session(tenant)
        return True
