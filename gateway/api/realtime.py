"""``GET /v1/realtime`` (WebSocket): an authenticated, metered relay to the upstream's Realtime API.

The handler checks the caller before anything is accepted (a refusal is an
HTTP error in OpenAI's shape, which the SDKs raise), opens the upstream
socket with the gateway's key, then pumps frames both ways through
`gateway.realtime.session.RealtimeSession`, which decides what each frame
does to money and policy. Frames pass unchanged unless that module says
otherwise; nothing is reordered, since each direction is one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode

import aiohttp

from gateway.api.asgi import header
from gateway.auth.callers import Caller
from gateway.config.model import RealtimePolicy
from gateway.config.runtime import Model
from gateway.errors import BadRequest, GatewayError, RateLimited
from gateway.errors.wire import http_headers, json_body, realtime_event
from gateway.pipeline.context import RequestContext
from gateway.pipeline.prepare import require_price
from gateway.policy import check_requested
from gateway.pricing import ModelPrice
from gateway.realtime.decision import Decision
from gateway.realtime.responses_socket import ResponsesSocketSession
from gateway.realtime.session import RealtimeSession
from gateway.services import Services
from gateway.telemetry.labels import tenant_label

log = logging.getLogger(__name__)

_KEY_PROTOCOL = "openai-insecure-api-key."  # how browsers pass a key: they cannot set headers
# Close codes: 1000 normal, 1008 policy (limits, budget), 1011 upstream failure.
_CLOSE_CODES = {
    "idle_timeout": 1008,
    "max_duration": 1008,
    "budget_exceeded": 1008,
    "output_cap_failed": 1011,
    "upstream_closed": 1000,
    "upstream_error": 1011,
    "gateway_shutdown": 1012,  # service restart: the SDK may reconnect
}
_ENDED_MESSAGES = {
    "gateway_shutdown": (
        "gateway_shutdown",
        "This gateway instance is shutting down; reconnect to continue.",
    ),
    "idle_timeout": ("session_idle_timeout", "The session was idle for longer than {idle:g} s."),
    "max_duration": ("session_expired", "The session reached its maximum of {max:g} s."),
}


class SocketSession(Protocol):
    """What the relay needs from a session: decisions on frames, and a final settlement."""

    spent_nanos: int
    session_id: str | None

    def opening_events(self) -> list[str]: ...
    async def on_client(self, text: str) -> Decision: ...
    async def server_event(self, text: str) -> Decision: ...
    def close(self) -> None: ...


Opener = Callable[
    [Services, dict[str, Any], RequestContext],
    Awaitable[tuple[Caller, SocketSession, aiohttp.ClientWebSocketResponse]],
]


async def realtime(services: Services, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``GET /v1/realtime``: a Realtime session, counted against the tenant's session limit."""
    await _serve(services, scope, receive, send, "realtime.session", _open, is_session=True)


async def responses_socket(
    services: Services, scope: dict[str, Any], receive: Any, send: Any
) -> None:
    """``GET /v1/responses``: the Responses WebSocket mode."""
    await _serve(
        services, scope, receive, send, "responses.websocket", _open_responses, is_session=False
    )


async def _serve(
    services: Services,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
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
        caller, session, upstream = await opener(services, scope, ctx)
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
                "headers": [(b"x-request-id", ctx.request_id.encode())],
            }
        )
        ctx.status = 101
        reason = await _relay(session, upstream, receive, send, caller, services.stopping)
    except Exception:
        log.exception("%s %s failed", endpoint, ctx.request_id)
    finally:
        session.close()
        with contextlib.suppress(Exception):
            await upstream.close()
        if is_session:
            _session_ended(services, caller.tenant, label, ctx.started, reason)
        ctx.cost_nanos, ctx.response_id = session.spent_nanos, session.session_id
        ctx.error_code = None if reason in ("client_closed", "upstream_closed") else reason
        services.access_log.write(ctx)


async def _open_responses(
    services: Services, scope: dict[str, Any], ctx: RequestContext
) -> tuple[Caller, SocketSession, aiohttp.ClientWebSocketResponse]:
    auth = header(scope, b"authorization")
    caller = await services.auth.caller(auth.decode("latin-1") if auth else None)
    ctx.tenant, ctx.subject = caller.tenant, caller.principal.subject
    # One socket, one upstream: the first configured (where stored responses live too).
    config = services.config
    upstream_name = next(iter(config.upstreams))
    upstream = await services.pool.get(upstream_name).ws_connect("/responses", "")
    session = ResponsesSocketSession(services.pipeline, config, caller, upstream_name)
    return caller, session, upstream


async def _open(
    services: Services, scope: dict[str, Any], ctx: RequestContext
) -> tuple[Caller, SocketSession, aiohttp.ClientWebSocketResponse]:
    caller, fixed_session = await services.auth.session_caller(_credential(scope))
    tenant = caller.tenant
    ctx.tenant, ctx.subject = tenant, caller.principal.subject
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "call_id" in query:
        raise BadRequest(
            "Sideband connections to WebRTC calls are opened by the gateway itself.",
            param="call_id",
            code="unsupported_parameter",
        )
    name = (query.get("model") or [""])[0] or fixed_session.get("model", "")
    if fixed_session.get("model") not in (None, name):
        raise BadRequest(
            "This client secret was minted for another model.", param="model", code=None
        )
    if not name:
        raise BadRequest("Missing required parameter: 'model'.", param="model", code=None)
    ctx.model = name
    model, price = resolve_model(services, caller, name)
    await open_session_slot(services, caller)
    try:
        client = services.pool.get(model.upstream)
        upstream = await client.ws_connect("/realtime", urlencode({"model": model.upstream_model}))
    except BaseException:
        services.quota.close_session(tenant)
        raise
    spend = (query.get("gateway_spend_events") or [""])[0] in ("1", "true")
    session = _session(
        services, caller, model, price, fixed_session=fixed_session, report_spend=spend
    )
    return caller, session, upstream


def _session(
    services: Services, caller: Caller, model: Model, price: ModelPrice | None, **options: Any
) -> RealtimeSession:
    return RealtimeSession(
        services.pipeline.meter, services.config, caller, model, price, **options
    )


def resolve_model(services: Services, caller: Caller, name: str) -> tuple[Model, ModelPrice | None]:
    """The configured model a Realtime session may use (a route is refused), and its price."""
    config = services.config
    check_requested(config, caller.policy, name)
    model = config.models.get(name)
    if model is None:  # a route: routing picks per call, a session is one model
        raise BadRequest(
            f"`{name}` is a route; Realtime sessions need a model.", param="model", code=None
        )
    return model, require_price(config, model)


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


async def watch_call(
    services: Services,
    caller: Caller,
    model: Model,
    price: ModelPrice | None,
    call_id: str,
    upstream: aiohttp.ClientWebSocketResponse,
    *,
    fixed_session: dict[str, Any],
) -> None:
    """Meter a WebRTC call from its (open) sideband socket; hang up when it cannot be.

    Fails closed: out of budget, out of time, the cap lost, the sideband lost or
    broken all end the call, since the gateway would stop seeing what it costs.
    Only the call's own end and a gateway shutdown leave it be. The call holds a
    session slot (taken before it was created); this gives it back.
    """
    tenant = caller.tenant
    label = tenant_label(services.config, tenant)
    session = _session(services, caller, model, price, fixed_session=fixed_session, observer=True)
    services.metrics.realtime_sessions(label).inc()
    started = time.perf_counter()
    reason = "error"
    try:
        for event in session.opening_events():
            await upstream.send_str(event)
        async with asyncio.timeout(caller.policy.realtime.max_session_s):
            reason = await _from_upstream(session, upstream, _nobody)  # observe, relay nothing
        if reason == "upstream_closed" and upstream.close_code != 1000:
            reason = "sideband_lost"  # the call may go on: unmetered, so it ends
    except TimeoutError:
        reason = "max_duration"
    except asyncio.CancelledError:
        reason = "gateway_shutdown"
        raise
    except Exception:
        log.exception("call %s: watching it failed", call_id)
    finally:
        with contextlib.suppress(Exception):
            await upstream.close()
        session.close()
        _session_ended(services, tenant, label, started, reason)
        if reason not in ("upstream_closed", "gateway_shutdown"):
            await hang_up(services, model, call_id)


def _session_ended(
    services: Services, tenant: str, label: str, started: float, reason: str
) -> None:
    """Give the session's slot back and count how it ended."""
    services.quota.close_session(tenant)
    metrics = services.metrics
    metrics.realtime_sessions(label).dec()
    metrics.realtime_session_duration(label).observe(time.perf_counter() - started)
    metrics.realtime_sessions_ended(label, reason).inc()


async def _nobody(message: dict[str, Any]) -> None:
    """A WebRTC call's sideband has no client to relay to: the browser has the media."""


async def hang_up(services: Services, model: Model, call_id: str) -> None:
    client = services.pool.get(model.upstream)
    headers = {"content-type": "application/json"}
    if client.upstream.api_key:
        headers["authorization"] = f"Bearer {client.upstream.api_key}"
    try:
        resp = await client.send("POST", f"/realtime/calls/{call_id}/hangup", b"", headers, b"{}")
        await resp.read()
        if resp.status >= 400:
            log.error("call %s: hangup refused (HTTP %d)", call_id, resp.status)
    except GatewayError as err:
        log.error("call %s: hangup failed (%s)", call_id, err.code)


def _credential(scope: dict[str, Any]) -> str | None:
    auth = header(scope, b"authorization")
    if auth is not None:
        return auth.decode("latin-1")
    for protocol in scope.get("subprotocols") or []:
        if protocol.startswith(_KEY_PROTOCOL):
            return f"Bearer {protocol[len(_KEY_PROTOCOL) :]}"
    return None


async def _relay(
    session: SocketSession,
    upstream: aiohttp.ClientWebSocketResponse,
    receive: Any,
    send: Any,
    caller: Caller,
    stopping: asyncio.Event,
) -> str:
    """Pump both ways until one side ends or the gateway stops; returns why it ended."""
    for event in session.opening_events():
        await upstream.send_str(event)
    rules = caller.policy.realtime
    client = asyncio.create_task(_from_client(session, upstream, receive, send, rules))
    server = asyncio.create_task(_from_upstream(session, upstream, send))
    stop = asyncio.create_task(stopping.wait())
    done, pending = await asyncio.wait((client, server, stop), return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    pump = client if client in done else server if server in done else None
    if pump is None:
        reason = "gateway_shutdown"
    else:
        reason = pump.result() if pump.exception() is None else "upstream_error"
    if reason in _ENDED_MESSAGES:
        code, text = _ENDED_MESSAGES[reason]
        err = BadRequest(text.format(idle=rules.idle_timeout_s, max=rules.max_session_s), code=code)
        with contextlib.suppress(Exception):  # the client may be gone already
            await _to_client(send, [realtime_event(err, None)])
    if reason != "client_closed":
        close_code = _CLOSE_CODES.get(reason, 1000)
        if reason == "upstream_closed":  # 1001: the API's 60-minute limit; the SDK reconnects
            close_code = upstream.close_code if upstream.close_code in (1000, 1001) else 1011
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": close_code, "reason": reason})
    return reason


async def _from_client(
    session: SocketSession,
    upstream: aiohttp.ClientWebSocketResponse,
    receive: Any,
    send: Any,
    rules: RealtimePolicy,
) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rules.max_session_s
    while True:
        left = deadline - loop.time()
        try:
            async with asyncio.timeout(min(rules.idle_timeout_s, left)):
                message = await receive()
        except TimeoutError:
            return "max_duration" if loop.time() >= deadline - 0.001 else "idle_timeout"
        kind = message["type"]
        if kind == "websocket.disconnect":
            return "client_closed"
        text = message.get("text")
        if text is None:
            await upstream.send_bytes(message.get("bytes") or b"")
            continue
        decision = await session.on_client(text)
        try:
            await _to_client(send, decision.to_client)
        except _ClientGone:
            return "client_closed"
        if decision.forward is not None:
            await upstream.send_str(decision.forward)
        if decision.close:
            return decision.close


async def _from_upstream(
    session: SocketSession, upstream: aiohttp.ClientWebSocketResponse, send: Any
) -> str:
    try:
        async for message in upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                decision: Decision = await session.server_event(message.data)
                for event in decision.to_upstream:
                    await upstream.send_str(event)
                out = [decision.forward] if decision.forward is not None else []
                await _to_client(send, out + decision.to_client)
                if decision.close:
                    return decision.close
            elif message.type == aiohttp.WSMsgType.BINARY:
                try:
                    await send({"type": "websocket.send", "bytes": message.data})
                except Exception as exc:
                    raise _ClientGone from exc
            else:
                break
    except _ClientGone:
        return "client_closed"
    return "upstream_closed"


class _ClientGone(Exception):
    """Sending to the client failed: it has left."""


async def _to_client(send: Any, events: list[str]) -> None:
    try:
        for event in events:
            await send({"type": "websocket.send", "text": event})
    except Exception as exc:
        raise _ClientGone from exc


async def _refuse(scope: dict[str, Any], send: Any, err: GatewayError, request_id: str) -> None:
    """Refuse the upgrade with an HTTP error in OpenAI's shape (the SDK raises it)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008, "reason": err.code or err.type})
        return
    headers = [
        (b"content-type", b"application/json"),
        (b"x-request-id", request_id.encode()),
        *http_headers(err),
    ]
    await send({"type": "websocket.http.response.start", "status": err.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": json_body(err)})
