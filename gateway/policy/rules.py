"""Policy decisions: pure functions of the compiled config and the caller, raising on refusal."""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.config.runtime import Policy, RuntimeConfig
from gateway.config.scopes import service_name
from gateway.errors import NotFound, PermissionDenied


def resolve_tenant(config: RuntimeConfig, principal: Principal) -> Policy:
    policy = config.policy_for(principal.tenant)
    if policy is None:
        raise PermissionDenied(
            f"Tenant {principal.tenant!r} is not known to this gateway.", code="unknown_tenant"
        )
    if not policy.enabled:
        raise PermissionDenied(
            f"Tenant {principal.tenant!r} is disabled on this gateway.", code="tenant_disabled"
        )
    return policy


def resolve_service(policy: Policy, principal: Principal) -> str | None:
    """The service a call is counted under (None: the tenant has no services configured)."""
    rules = policy.services
    if rules is None:
        return None
    claimed = principal.claims.get(rules.claim)
    if claimed is None and rules.claim == "sub":
        claimed = principal.subject
    service = service_name(rules, claimed)
    if service is None:
        raise PermissionDenied(
            f"The service {claimed!r} is not one of tenant {principal.tenant!r}'s services "
            f"(the token's {rules.claim!r} claim names it).",
            code="unknown_service",
        )
    return service


def check_requested(config: RuntimeConfig, policy: Policy, name: str) -> None:
    """The ``model`` a client asked for (a model or a route) exists and is allowed to it."""
    if name not in config.models and name not in config.routes:
        raise NotFound(
            f"The model `{name}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    if not policy.allows_model(name):
        raise PermissionDenied(
            f"Your tenant may not use the model `{name}`.", param="model", code="model_not_allowed"
        )


def check_family(policy: Policy, family: str) -> None:
    """The tenant may call this endpoint family (``endpoints:`` in its policy)."""
    if policy.endpoints is not None and family not in policy.endpoints:
        raise PermissionDenied(
            f"Your tenant may not use the {family} endpoints.", code="endpoint_not_allowed"
        )
