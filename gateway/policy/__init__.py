"""Per-tenant rules as plain functions: may this caller do this?"""

from gateway.policy.rules import resolve_model, resolve_tenant

__all__ = ["resolve_model", "resolve_tenant"]
