"""Parts of a tenant's traffic that have limits and budgets of their own: services and tags.

A call's *scope* is its tenant plus, when configured, the service that made it
and the tags it carries. Budgets are counted per scope string (`scope_of`), the
second part of a quota counter key: the tenant's total is ``None``, a model's
budget the model's name, a service's ``service:<name>``, a tag's
``tag:<key>=<value>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.config.tenant import OTHER_SERVICE, ServiceLimits, ServicesPolicy

ScopeKind = Literal["tenant", "model", "service", "tag"]

SERVICE_SCOPE = "service:"
TAG_SCOPE = "tag:"


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """How a tenant's calls are split into services, and each service's rate limits."""

    claim: str
    unlisted: Literal["group", "refuse"]
    names: frozenset[str]  # listed (``other`` among them when its limits are)
    limits: Mapping[str, ServiceLimits]  # only services with a rate or concurrency limit

    def limits_of(self, service: str | None) -> ServiceLimits | None:
        return self.limits.get(service) if service is not None else None


def compile_services(p: ServicesPolicy | None) -> ServiceRules | None:
    if p is None:
        return None
    limits = {
        name: s.limits
        for name, s in p.known.items()
        if s.limits.rpm or s.limits.tpm or s.limits.concurrent
    }
    return ServiceRules(p.claim, p.unlisted, frozenset(p.known), limits)


def service_name(rules: ServiceRules, claimed: str | None) -> str | None:
    """The service a call is counted under; None when it must be refused (``unlisted: refuse``)."""
    if claimed is not None and claimed in rules.names:
        return claimed
    return OTHER_SERVICE if rules.unlisted == "group" else None


def service_scope(service: str) -> str:
    return SERVICE_SCOPE + service


def tag_scope(pair: str) -> str:
    return TAG_SCOPE + pair


def describe_scope(scope: str | None) -> tuple[ScopeKind, str | None]:
    """``(kind, name)`` of a counter's scope: tenant, model, service or tag."""
    if scope is None:
        return "tenant", None
    if scope.startswith(SERVICE_SCOPE):
        return "service", scope[len(SERVICE_SCOPE) :]
    if scope.startswith(TAG_SCOPE):
        return "tag", scope[len(TAG_SCOPE) :]
    return "model", scope
