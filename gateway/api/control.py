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

from gateway.api.asgi import Scope
from gateway.auth.callers import Caller
from gateway.auth.principal import Principal
from gateway.errors import GatewayError
from gateway.errors.wire import as_gateway_error, json_body
from gateway.pipeline.context import RequestContext, own_answer_ids
from gateway.services import Services
from gateway.telemetry.labels import tenant_label
from gateway.telemetry.metrics import status_class

log = logging.getLogger(__name__)

_CONTEXT = "gateway_request"  # the key of the request's context in the ASGI scope's state


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
        ctx = RequestContext.start(scope["method"], scope["path"])
        # The server's per-request copy of the lifespan state, copied again: ours alone.
        scope["state"] = {**scope.get("state", {}), _CONTEXT: ctx}
        ids = own_answer_ids(ctx.request_id)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                message["headers"] = [*message.get("headers", ()), *ids]
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
            tenant_label(services.config, ctx.tenant),
            "-",
            "_none",
            ctx.endpoint,
            status_class(ctx.status),
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


def _identify(request: Request[Any, Any, Any], principal: Principal) -> None:
    ctx = context(request)
    if ctx is not None:
        ctx.tenant, ctx.subject = principal.tenant, principal.subject


async def authenticate(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Caller:
    """The ``caller`` dependency: the bearer token's tenant (401 without a valid one)."""
    caller = await services.auth.caller(request.headers.get("authorization"))
    _identify(request, caller.principal)
    return caller


async def authenticate_admin(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Caller:
    """The ``admin`` dependency: 403 without the gateway admin role; any tenant name
    (see `Authenticator.admin`). A refusal is logged with the token's tenant."""
    principal = await services.auth.principal(request.headers.get("authorization"))
    _identify(request, principal)
    return services.auth.admin(principal)


def render_error(exc: Exception) -> tuple[int, bytes, dict[str, str]]:
    """An exception as (status, OpenAI-shaped JSON body, headers)."""
    err = as_gateway_error(exc)
    return err.status, json_body(err), err.headers


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Litestar's exception handler for every route: OpenAI's error shape."""
    err = as_gateway_error(exc)
    if not isinstance(exc, GatewayError) and err.status >= 500:
        log.error("unhandled error on a control-plane route", exc_info=exc)
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
