"""Which limits and budgets a call counts against, the same rule for both stores."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.config.runtime import BudgetLimit, Policy
from gateway.quota.orphans import CounterKey
from gateway.quota.windows import Window, WindowKind


def holds_nothing(policy: Policy) -> bool:
    """No limits and no budgets: nothing to count or hold (and no store to ask)."""
    return not (policy.rpm or policy.tpm or policy.concurrent or policy.budgets)


def applicable(policy: Policy, model: str) -> Iterator[BudgetLimit]:
    """The tenant's budgets a call to ``model`` counts against: its own and the model's."""
    return (b for b in policy.budgets if b.model is None or b.model == model)


def counter_key(tenant: str, limit: BudgetLimit, windows: dict[WindowKind, Window]) -> CounterKey:
    """The counter of ``limit`` in its current window."""
    return tenant, limit.model, windows[limit.window].key
