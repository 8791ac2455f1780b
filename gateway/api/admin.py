"""Admin endpoints for the config: reload it now, and see how the last reload went."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from gateway.config.reload import ReloadResult
from gateway.errors import NotFound
from gateway.services import Services


def _result(result: ReloadResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "status": "ok" if result.ok else "rejected",
        "trigger": result.trigger,
        "at": result.at,
        "problems": list(result.problems),
    }


@post("/admin/config/reload", status_code=200)
async def reload_config(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[dict[str, Any]]:
    """Reload the config from disk; 422 with the problems when it is rejected."""
    await services.auth.admin(request.headers.get("authorization"))
    if services.reloader is None:
        raise NotFound("This gateway was started without a config file to reload.")
    result = await services.reloader.reload("admin")
    return Response(_result(result) or {}, status_code=200 if result.ok else 422)


@get("/admin/config")
async def config_status(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> dict[str, Any]:
    """The config in force and the outcome of the last reload."""
    await services.auth.admin(request.headers.get("authorization"))
    config = services.config
    reloader = services.reloader
    return {
        "tenants": sorted(config.tenants),
        "models": sorted(config.models),
        "routes": sorted(config.routes),
        "pricing_version": config.pricing.version,
        "last_reload": _result(reloader.last if reloader else None),
        "reloads": dict(reloader.counts) if reloader else {},
    }
