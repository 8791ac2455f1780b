"""Budgets survive restarts: this window's spend, read back from the ledger to seed the quota."""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine

from gateway.ledger import spend_by_tenant_model
from gateway.quota.orphans import CounterKey
from gateway.quota.store import Quota


def ledger_spend(engine: Engine, quota: Quota) -> dict[CounterKey, int]:
    """Spend per (tenant, model or all models, window) since each window began."""
    seed: dict[CounterKey, int] = {}
    for window in quota.windows(time.time()).values():
        for (tenant, model), nanos in spend_by_tenant_model(engine, window.starts_at).items():
            for key in ((tenant, None, window.key), (tenant, model, window.key)):
                seed[key] = seed.get(key, 0) + nanos
    return seed
