"""What every control-plane (Litestar) route shares: request metrics, access log, error shape.

`ControlPlane` wraps the whole Litestar app rather than hooking into it, so
unknown URLs and wrong methods (answered by Litestar's router, before any
handler or Litestar middleware) are counted and logged like every other
request. Handlers get the caller from the ``caller``/``admin`` dependencies,
which also put the tenant on the request's context for the access log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException

from gateway.api.asgi import Scope
from gateway.api.proxy import new_request_id, tenant_label
from gateway.errors import BadRequest, GatewayError, InternalError, PermissionDenied
from gateway.services import Caller, Services
from gateway.telemetry.access_log import RequestContext
from gateway.telemetry.metrics import status_class

log = logging.getLogger(__name__)

_CONTEXT = "gateway_request"  # the key of the request's context in the ASGI scope's state
_MESSAGES = {
    404: ("Unknown request URL. Please check the URL and method.", "not_found"),
    405: ("Method not allowed for this URL.", "method_not_allowed"),
}


class ControlPlane:
    """ASGI wrapper around the Litestar app: one request context, metrics and log line each."""

    def __init__(self, services: Services, litestar: Litestar) -> None:
        self.services = services
        self.litestar = litestar
        self._app: Any = litestar  # called with plain-dict scopes, not Litestar's typed ones

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        ctx = RequestContext(
            request_id=new_request_id(),
            method=scope["method"],
            path=scope["path"],
            started=time.perf_counter(),
            wall_started=time.time(),
        )
        # The server's per-request copy of the lifespan state, copied again: ours alone.
        scope["state"] = {**scope.get("state", {}), _CONTEXT: ctx}
        request_id = (b"x-request-id", ctx.request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                message["headers"] = [*message.get("headers", ()), request_id]
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            ctx.endpoint = _endpoint(scope)
            self._observe(ctx)

    def _observe(self, ctx: RequestContext) -> None:
        services = self.services
        metrics = services.metrics
        metrics.requests(
            tenant_label(services, ctx), "-", "_none", ctx.endpoint, status_class(ctx.status)
        ).inc()
        metrics.request_duration(ctx.endpoint, "-").observe(time.perf_counter() - ctx.started)
        if services.config.server.access_log:
            services.access_log.write(ctx)


def _endpoint(scope: Scope) -> str:
    """A bounded label: the matched route's path as dotted words (``/v1/models`` → ``models``)."""
    template: str | None = scope.get("path_template")
    if not template:
        return "unknown"  # no route matched (404, 405)
    return template.removeprefix("/v1/").strip("/").replace("/", ".")


def context(request: Request[Any, Any, Any]) -> RequestContext | None:
    ctx: RequestContext | None = request.scope.get("state", {}).get(_CONTEXT)
    return ctx


def services_of(state: State) -> Services:
    """The ``services`` dependency: the gateway's, kept in the app's state."""
    services: Services = state["services"]
    return services


def _identify(request: Request[Any, Any, Any], caller: Caller) -> Caller:
    ctx = context(request)
    if ctx is not None:
        ctx.tenant, ctx.subject = caller.principal.tenant, caller.principal.subject
    return caller


async def authenticate(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Caller:
    """The ``caller`` dependency: the bearer token's tenant (401 without a valid one)."""
    caller = await services.authenticate(request.headers.get("authorization"))
    return _identify(request, caller)


async def authenticate_admin(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Caller:
    """The ``admin`` dependency: as ``caller`` (so a refusal is logged with its tenant),
    and 403 without the gateway admin role."""
    caller = await authenticate(request, services)
    if not caller.principal.is_admin:
        raise PermissionDenied("This endpoint needs the gateway admin role.", code="admin_required")
    return caller


def as_gateway_error(exc: Exception) -> GatewayError:
    """Litestar's own refusals (404, 405, bad parameters) and failures as gateway errors."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        message, code = _MESSAGES.get(exc.status_code, (str(exc.detail), None))
        # Litestar's own headers (a 405's Allow) go out with our body.
        err = BadRequest(message, code=code, headers=dict(exc.headers or {}))
        err.status = exc.status_code
        return err
    log.error("unhandled error on a control-plane route", exc_info=exc)
    return InternalError("The gateway failed to handle this request.", code="internal_error")


def render_error(exc: Exception) -> tuple[int, bytes, dict[str, str]]:
    """An exception as (status, OpenAI-shaped JSON body, headers)."""
    err = as_gateway_error(exc)
    return err.status, err.body(), err.headers


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Litestar's exception handler for every route: OpenAI's error shape."""
    err = as_gateway_error(exc)
    ctx = context(request)
    if ctx is not None:
        ctx.error_code = err.code
    status, body, headers = render_error(err)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


DEPENDENCIES = {
    "services": Provide(services_of, sync_to_thread=False),
    "caller": Provide(authenticate),
    "admin": Provide(authenticate_admin),
}
