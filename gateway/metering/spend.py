"""Budgets survive restarts: this window's spend, read back from the ledger to seed the quota."""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine

from gateway.config.runtime import RuntimeConfig
from gateway.config.scopes import service_scope, tag_scope
from gateway.ledger import spend_by_scope
from gateway.quota.orphans import CounterKey
from gateway.quota.store import Quota


def ledger_spend(engine: Engine, quota: Quota, config: RuntimeConfig) -> dict[CounterKey, int]:
    """Spend per (tenant, scope, window) since each window began: the tenant's total, each
    model's, each service's, and each tag's that has a budget in ``config`` (tag values
    are not bounded in number: only budgeted ones become counters)."""
    budgeted = _BudgetedTags(config)
    seed: dict[CounterKey, int] = {}
    for window in quota.windows(time.time()).values():
        for (tenant, model, service, tags), nanos in spend_by_scope(
            engine, window.starts_at
        ).items():
            scopes: list[str | None] = [None, model]
            if service is not None:
                scopes.append(service_scope(service))
            if tags:
                scopes += [tag_scope(p) for p in tags.split(",") if p in budgeted.of(tenant)]
            for scope in scopes:
                key = (tenant, scope, window.key)
                seed[key] = seed.get(key, 0) + nanos
    return seed


class _BudgetedTags:
    """The "key=value" tags with a budget, per tenant (an unlisted one's from `defaults`)."""

    def __init__(self, config: RuntimeConfig) -> None:
        self._config = config
        self._tags: dict[str, frozenset[str]] = {}

    def of(self, tenant: str) -> frozenset[str]:
        tags = self._tags.get(tenant)
        if tags is None:
            policy = self._config.policy_for(tenant)
            budgets = policy.budgets if policy is not None else ()
            tags = self._tags[tenant] = frozenset(b.tag for b in budgets if b.tag is not None)
        return tags
