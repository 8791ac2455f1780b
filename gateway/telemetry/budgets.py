"""Budget levels for the ``gateway_budget_*`` gauges, read at scrape time."""

from __future__ import annotations

import time

from gateway.config.runtime import RuntimeConfig
from gateway.config.scopes import describe_scope
from gateway.pricing import NANOS_PER_USD
from gateway.quota.store import Quota
from gateway.telemetry.collectors import BudgetLevel


def budget_levels(config: RuntimeConfig, quota: Quota) -> list[BudgetLevel]:
    """Every budget's level now; unlisted tenants merge into ``_default`` (lowest wins).
    A service's or a tag's budget carries its scope, so it never stands in for the
    tenant's total (both have no model)."""
    now = time.time()
    tenants = [(t, t, p) for t, p in config.tenants.items() if p.budgets]
    if config.defaults is not None and config.defaults.budgets:
        unlisted = (t for t in quota.tenants() if t not in config.tenants)
        tenants += [(t, "_default", config.defaults) for t in unlisted]
    levels: dict[tuple[str, str, str, str | None], BudgetLevel] = {}
    for tenant, label, policy in tenants:
        for b in quota.status(tenant, policy, now):
            kind, _ = describe_scope(b.scope)
            scope = b.scope if kind in ("service", "tag") else None
            key = (label, b.window, b.model or "_all", scope)
            left = b.remaining_nanos / NANOS_PER_USD
            if key not in levels or left < levels[key].remaining_usd:
                levels[key] = BudgetLevel(*key[:3], b.limit_nanos / NANOS_PER_USD, left, scope)
    return list(levels.values())
