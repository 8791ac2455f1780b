"""The budget levels this replica last read from Redis.

Status pages answer from them without waiting, and a fail-open outage starts
each budget from them. Every key a call counts against is remembered with its
counter, so a reservation can be settled and a level shown without parsing keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.config.runtime import Policy
from gateway.quota.budgets import applicable, counter_key
from gateway.quota.orphans import CounterKey
from gateway.quota.shared.connection import Client
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.verdicts import Counted
from gateway.quota.ticket import BudgetStatus
from gateway.quota.windows import Window, WindowKind

Windows = Callable[[float], dict[WindowKind, Window]]


class BudgetLevels:
    def __init__(self, redis: Client, keys: Keys, windows: Windows) -> None:
        self._redis, self._keys, self._windows = redis, keys, windows
        self._levels: dict[str, tuple[int, int]] = {}  # budget key -> (spent, reserved)
        self._counters: dict[str, CounterKey] = {}  # budget key -> its counter
        self._seen: set[str] = set()

    def counted(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        now: float,
        service: str | None = None,
        tags: str | None = None,
    ) -> Counted:
        """The budgets a call counts against, each with its Redis key."""
        windows = self._windows(now)
        out = []
        for limit in applicable(policy, model, service, tags):
            counter = counter_key(tenant, limit, windows)
            key = self._keys.budget(counter)
            self._counters[key] = counter
            out.append((limit, key))
        return out

    def counter(self, key: str) -> CounterKey:
        return self._counters[key]

    def admitted(self, tenant: str, counted: Counted) -> None:
        """The heartbeat keeps these levels, for status and for a fail-open start."""
        self._seen.add(tenant)
        for _, key in counted:
            self._levels.setdefault(key, (0, 0))

    def tenants(self) -> list[str]:
        return list(self._seen)

    def status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        windows = self._windows(now)
        out = []
        for limit in policy.budgets:
            self._seen.add(tenant)
            window = windows[limit.window]
            counter = counter_key(tenant, limit, windows)
            key = self._keys.budget(counter)
            self._counters[key] = counter
            spent, reserved = self._levels.setdefault(key, (0, 0))
            out.append(
                BudgetStatus(
                    limit.window,
                    limit.model,
                    limit.nanos,
                    spent,
                    reserved,
                    window.resets_at,
                    limit.scope,
                )
            )
        return out

    async def read(self, tenant: str, policy: Policy, now: float) -> None:
        """Read a tenant's levels now (one round trip)."""
        windows = self._windows(now)
        await self.refresh(
            [self._keys.budget(counter_key(tenant, b, windows)) for b in policy.budgets]
        )

    async def refresh(self, keys: Iterable[str] | None = None) -> None:
        """Read the given levels, or all those kept."""
        keys = list(self._levels if keys is None else keys)
        if not keys:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, "s", "r")
        for key, (s, r) in zip(keys, await pipe.execute(), strict=True):
            self._levels[key] = (int(s or 0), int(r or 0))

    def prune(self, now: float) -> None:
        """Levels of past windows are neither shown nor used: stop reading them."""
        current = {w.key for w in self._windows(now).values()}
        for key in [k for k in self._levels if self._counters[k][2] not in current]:
            del self._levels[key]

    def last(self) -> dict[CounterKey, int]:
        """Each budget's last level, spent and reserved together (a fail-open start)."""
        return {
            self._counters[key]: spent + reserved for key, (spent, reserved) in self._levels.items()
        }
