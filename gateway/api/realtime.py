"""``GET /v1/realtime`` (WebSocket): an authenticated, metered relay to the upstream's Realtime API.

The handler checks the caller before anything is accepted (a refusal is an
HTTP error in OpenAI's shape, which the SDKs raise), opens the upstream
socket with the gateway's key, then pumps frames both ways
(`gateway.realtime.pump`) through the session, which decides what each frame
does to money and policy: `gateway.realtime.session.RealtimeSession`, or for
``GET /v1/responses`` `gateway.realtime.responses_socket.ResponsesSocketSession`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp

from gateway.api.asgi import Receive, Scope, Send, header
from gateway.auth.callers import Caller
from gateway.config.runtime import Model
from gateway.errors import BadRequest, GatewayError, RateLimited
from gateway.errors.wire import http_headers, json_body
from gateway.guardrails.moderation import check_text
from gateway.pipeline.context import RequestContext, own_answer_ids
from gateway.pipeline.prepare import require_price
from gateway.policy import check_family, check_requested
from gateway.pricing import ModelPrice
from gateway.realtime.pump import SocketSession, pump
from gateway.realtime.responses_socket import ResponsesSocketSession
from gateway.realtime.session import RealtimeSession
from gateway.realtime.session_events import Moderate
from gateway.routing import deprecation
from gateway.routing.deprecation import Notice
from gateway.services import Services
from gateway.telemetry.labels import tenant_label

log = logging.getLogger(__name__)

_KEY_PROTOCOL = "openai-insecure-api-key."  # how browsers pass a key: they cannot set headers


Headers = list[tuple[bytes, bytes]]
Opened = tuple[Caller, SocketSession, aiohttp.ClientWebSocketResponse, Headers]
Opener = Callable[[Services, dict[str, Any], RequestContext], Awaitable[Opened]]


async def realtime(services: Services, scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /v1/realtime``: a Realtime session, counted against the tenant's session limit."""
    await _serve(services, scope, receive, send, "realtime.session", _open, is_session=True)


async def responses_socket(services: Services, scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /v1/responses``: the Responses WebSocket mode."""
    await _serve(
        services, scope, receive, send, "responses.websocket", _open_responses, is_session=False
    )


async def _serve(
    services: Services,
    scope: Scope,
    receive: Receive,
    send: Send,
    endpoint: str,
    opener: Opener,
    *,
    is_session: bool,
) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    ctx = RequestContext.start("GET", scope["path"], endpoint)
    ctx.stream = True
    try:
        caller, session, upstream, headers = await opener(services, scope, ctx)
    except GatewayError as err:
        ctx.status, ctx.error_code = err.status, err.code
        label = tenant_label(services.config, ctx.tenant)
        services.metrics.rejections(label, err.code or err.type).inc()
        await _refuse(scope, send, err, ctx.request_id)
        services.access_log.write(ctx)
        return
    protocols = scope.get("subprotocols") or []
    label = tenant_label(services.config, ctx.tenant)
    metrics = services.metrics
    if is_session:
        metrics.realtime_sessions(label).inc()
    reason = "error"
    try:  # from here on, whatever happens, the slot and the upstream socket are given back
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": "realtime" if "realtime" in protocols else None,
                "headers": [*own_answer_ids(ctx.request_id), *headers],
            }
        )
        ctx.status = 101
        rules = caller.policy.realtime
        reason = await pump(session, upstream, receive, send, rules, services.stopping)
    except Exception:
        log.exception("%s %s failed", endpoint, ctx.request_id)
    finally:
        session.close()
        with contextlib.suppress(Exception):
            await upstream.close()
        if is_session:
            session_ended(services, caller.tenant, label, ctx.started, reason)
        ctx.cost_nanos, ctx.response_id = session.spent_nanos, session.session_id
        ctx.error_code = None if reason in ("client_closed", "upstream_closed") else reason
        services.access_log.write(ctx)


async def _open_responses(services: Services, scope: Scope, ctx: RequestContext) -> Opened:
    auth = header(scope, b"authorization")
    caller = await services.auth.caller(auth.decode("latin-1") if auth else None)
    ctx.tenant, ctx.subject = caller.tenant, caller.principal.subject
    ctx.service = caller.service
    # One socket, one upstream: the first configured (where stored responses live too).
    config = services.config
    upstream_name = next(iter(config.upstreams))
    upstream = await services.pool.get(upstream_name).ws_connect("/responses", "")
    session = ResponsesSocketSession(services.pipeline, config, caller, upstream_name)
    return caller, session, upstream, []  # each create names its model: no notice here


async def _open(services: Services, scope: Scope, ctx: RequestContext) -> Opened:
    caller, fixed_session = await services.auth.session_caller(_credential(scope))
    tenant = caller.tenant
    ctx.tenant, ctx.subject = tenant, caller.principal.subject
    ctx.service = caller.service
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "call_id" in query:
        raise BadRequest(
            "Sideband connections to WebRTC calls are opened by the gateway itself.",
            param="call_id",
            code="unsupported_parameter",
        )
    name = (query.get("model") or [""])[0] or fixed_session.get("model", "")
    if not minted_for(services, fixed_session.get("model"), name):
        raise BadRequest(
            "This client secret was minted for another model.", param="model", code=None
        )
    if not name:
        raise BadRequest("Missing required parameter: 'model'.", param="model", code=None)
    ctx.model = name
    model, price, notice = resolve_model(services, caller, name)
    await open_session_slot(services, caller)
    try:
        client = services.pool.get(model.upstream)
        upstream = await client.ws_connect("/realtime", urlencode({"model": model.upstream_model}))
    except BaseException:
        services.quota.close_session(tenant)
        raise
    spend = (query.get("gateway_spend_events") or [""])[0] in ("1", "true")
    session = session_for(
        services, caller, model, price, fixed_session=fixed_session, report_spend=spend
    )
    return caller, session, upstream, notice.headers() if notice is not None else []


def session_for(
    services: Services, caller: Caller, model: Model, price: ModelPrice | None, **options: Any
) -> RealtimeSession:
    return RealtimeSession(
        services.pipeline.meter, services.config, caller, model, price,
        tool_calls=services.metrics.tool_calls, moderate=_moderation(services, caller),
        **options,
    )  # fmt: skip


def _moderation(services: Services, caller: Caller) -> Moderate | None:
    """The tenant's moderation pre-check of a session's conversation items, if it has one."""
    if caller.policy.moderation is None:
        return None

    async def moderate(text: str) -> None:
        ctx = RequestContext.start("GET", "/v1/realtime", "realtime")
        ctx.tenant, ctx.subject = caller.tenant, caller.principal.subject
        ctx.service = caller.service
        await check_text(services.pipeline, services.config, caller, ctx, text, "item")

    return moderate


def minted_for(services: Services, fixed: object, name: object) -> bool:
    """A secret (its session's ``model``) may be used for ``name``: the model it was minted
    for, or a deprecated one rewritten to it (the secret holds the model served instead)."""
    if fixed in (None, name):
        return True
    if not isinstance(name, str):
        return False
    return deprecation.rewritten_to(services.config, name, deprecation.today()) == fixed


def resolve_model(
    services: Services, caller: Caller, name: str
) -> tuple[Model, ModelPrice | None, Notice | None]:
    """The configured model a Realtime session may use (a route is refused), its price, and
    the deprecation notice its answer carries (a deprecated model is counted, maybe rewritten)."""
    config = services.config
    check_family(caller.policy, "realtime")
    check_requested(config, caller.policy, name)
    deprecated = services.metrics.deprecated_calls
    name, notice = deprecated.requested(config, caller.tenant, caller.service, name)
    model = config.models.get(name)
    if model is None:  # a route: routing picks per call, a session is one model
        raise BadRequest(
            f"`{name}` is a route; Realtime sessions need a model.", param="model", code=None
        )
    return model, require_price(config, model), notice


async def open_session_slot(services: Services, caller: Caller) -> None:
    """Count a session against the tenant's limit (``quota.close_session`` gives it back)."""
    tenant, limit = caller.tenant, caller.policy.realtime_sessions
    if not await services.quota.open_session(tenant, limit):
        raise RateLimited(
            f"Tenant {tenant!r} already has {limit} Realtime sessions open.",
            code="session_limit_exceeded",
            retry_after_s=10,
            headers={},
            kind="sessions",
        )


def session_ended(services: Services, tenant: str, label: str, started: float, reason: str) -> None:
    """Give the session's slot back and count how it ended."""
    services.quota.close_session(tenant)
    metrics = services.metrics
    metrics.realtime_sessions(label).dec()
    metrics.realtime_session_duration(label).observe(time.perf_counter() - started)
    metrics.realtime_sessions_ended(label, reason).inc()


def _credential(scope: Scope) -> str | None:
    auth = header(scope, b"authorization")
    if auth is not None:
        return auth.decode("latin-1")
    for protocol in scope.get("subprotocols") or []:
        if protocol.startswith(_KEY_PROTOCOL):
            return f"Bearer {protocol[len(_KEY_PROTOCOL) :]}"
    return None


async def _refuse(scope: Scope, send: Send, err: GatewayError, request_id: str) -> None:
    """Refuse the upgrade with an HTTP error in OpenAI's shape (the SDK raises it)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008, "reason": err.code or err.type})
        return
    headers = [
        (b"content-type", b"application/json"),
        *own_answer_ids(request_id),
        *http_headers(err),
    ]
    await send({"type": "websocket.http.response.start", "status": err.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": json_body(err)})
