"""Admin endpoints for the config: reload it now, and see how the last reload went."""

from __future__ import annotations

from typing import Literal, TypedDict

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from gateway.api.policy_view import TenantPolicyView, policy_view
from gateway.auth.callers import Caller
from gateway.config.reload import ReloadResult
from gateway.errors import NotFound
from gateway.services import Services


class Reload(TypedDict):
    status: Literal["ok", "rejected"]
    trigger: str  # admin, SIGHUP, file watch, ...
    at: float  # unix time
    problems: list[str]
    changes: list[str]  # what an accepted reload changed (`gateway.config.diff`)


class ConfigStatus(TypedDict):
    tenants: list[str]
    policies: dict[str, TenantPolicyView]  # per configured tenant, as applied
    defaults: TenantPolicyView | None  # for tenants not listed; None: they are refused
    models: list[str]
    routes: list[str]
    pricing_version: str
    last_reload: Reload | None
    reloads: dict[str, int]  # reloads so far by result


def _result(result: ReloadResult) -> Reload:
    return {
        "status": "ok" if result.ok else "rejected",
        "trigger": result.trigger,
        "at": result.at,
        "problems": list(result.problems),
        "changes": list(result.changed),
    }


@post(
    "/admin/config/reload",
    summary="Reload the config (admins)",
    status_code=200,
    responses={422: ResponseSpec(Reload, description="Rejected: the config in force stays")},
)
async def reload_config(
    services: NamedDependency[Services], admin: NamedDependency[Caller]
) -> Response[Reload]:
    """Reload the config from disk; 422 with the problems when it is rejected."""
    if services.reloader is None:
        raise NotFound("This gateway was started without a config file to reload.")
    result = await services.reloader.reload("admin")
    return Response(_result(result), status_code=200 if result.ok else 422)


@get("/admin/config", summary="The config in force (admins)")
async def config_status(
    services: NamedDependency[Services], admin: NamedDependency[Caller]
) -> ConfigStatus:
    """The config in force, each tenant's policy as applied (wildcards and defaults
    resolved), and the outcome of the last reload."""
    config = services.config
    reloader = services.reloader
    last = reloader.last if reloader else None
    return {
        "tenants": sorted(config.tenants),
        "policies": {
            name: policy_view(config, config.tenants[name]) for name in sorted(config.tenants)
        },
        "defaults": policy_view(config, config.defaults) if config.defaults else None,
        "models": sorted(config.models),
        "routes": sorted(config.routes),
        "pricing_version": config.pricing.version,
        "last_reload": _result(last) if last is not None else None,
        "reloads": dict(reloader.counts) if reloader else {},
    }
