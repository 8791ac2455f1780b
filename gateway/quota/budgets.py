"""Which limits and budgets a call counts against, the same rule for both stores."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.config.runtime import BudgetLimit, Policy
from gateway.config.tenant import ServiceLimits
from gateway.quota.orphans import CounterKey
from gateway.quota.windows import Window, WindowKind


def holds_nothing(policy: Policy) -> bool:
    """No limits and no budgets: nothing to count or hold (and no store to ask)."""
    services = policy.services
    return not (
        policy.rpm
        or policy.tpm
        or policy.concurrent
        or policy.budgets
        or (services is not None and services.limits)
    )


def applicable(
    policy: Policy, model: str, service: str | None = None, tags: str | None = None
) -> Iterator[BudgetLimit]:
    """The budgets a call counts against: the tenant's, its model's, its service's and those
    of the tags it carries (``tags``: the canonical text, `gateway.policy.tags`)."""
    pairs = tags.split(",") if tags else ()
    for b in policy.budgets:
        if b.service is not None:
            if b.service == service:
                yield b
        elif b.tag is not None:
            if b.tag in pairs:
                yield b
        elif b.model is None or b.model == model:
            yield b


def service_limits(policy: Policy, service: str | None) -> ServiceLimits | None:
    """The rate and concurrency limits of the call's service, if it has any."""
    services = policy.services
    return services.limits_of(service) if services is not None else None


def counter_key(tenant: str, limit: BudgetLimit, windows: dict[WindowKind, Window]) -> CounterKey:
    """The counter of ``limit`` in its current window."""
    return tenant, limit.scope, windows[limit.window].key
