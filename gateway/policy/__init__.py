"""Per-tenant rules as plain functions: may this caller do this?"""

from gateway.policy.rules import check_family, check_requested, resolve_service, resolve_tenant

__all__ = ["check_family", "check_requested", "resolve_service", "resolve_tenant"]
