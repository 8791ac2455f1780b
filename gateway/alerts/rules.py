"""Which thresholds and webhooks apply to a tenant: its own ``alerts:``, else the section's."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.alerts import TenantAlerts
from gateway.config.runtime import RuntimeConfig


@dataclass(frozen=True, slots=True)
class TenantRules:
    thresholds: tuple[int, ...]  # percents, ascending
    webhooks: tuple[str, ...]  # names in `RuntimeConfig.webhooks`


def rules_for(config: RuntimeConfig, tenant: str) -> TenantRules | None:
    """None when nothing is to be sent for the tenant (alerts off, or no webhook)."""
    section = config.source.alerts
    if not section.enabled or not config.webhooks:
        return None
    listed = config.source.tenants.get(tenant)
    policy = listed if listed is not None else config.source.defaults
    if policy is None:
        return None
    own = policy.alerts if policy.alerts is not None else TenantAlerts()
    if not own.enabled:
        return None
    names = own.webhooks if own.webhooks is not None else section.default_webhooks
    webhooks = tuple(names) if names is not None else tuple(config.webhooks)
    thresholds = own.thresholds if own.thresholds is not None else section.thresholds
    if not webhooks:
        return None
    return TenantRules(tuple(sorted(set(thresholds))), webhooks)
