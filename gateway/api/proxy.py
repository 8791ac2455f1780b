"""HTTP handlers for the proxied OpenAI endpoints (raw ASGI: they are the hot path).

Each handler parses the request, asks the services for decisions and
forwards; the decisions themselves live in auth/, policy/ and ownership/.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.api.asgi import ClientGone, Headers, Scope, header, read_body, send_error
from gateway.api.relay import OnResponseId, relay
from gateway.errors import BadRequest, GatewayError, InternalError, MethodNotAllowed, NotFound
from gateway.metering.outcome import Outcome, measure
from gateway.policy import resolve_model
from gateway.quota.bound import admission_bound, token_estimate
from gateway.services import Caller, Services
from gateway.shapes.adapters import RESPONSES, Shape, parse_json_object
from gateway.telemetry.access_log import RequestContext, write_access_log
from gateway.upstream import upstream_request_headers

log = logging.getLogger(__name__)

_INTERNAL = InternalError("The gateway failed to handle this request.", code="internal_error")


@dataclass(slots=True)
class Exchange:
    """One request's ASGI channel, its context and the services that answer it."""

    services: Services
    ctx: RequestContext
    scope: Scope
    receive: Any
    send: Any
    headers: Headers  # response headers the gateway adds (x-request-id)


Handler = Callable[[Exchange], Awaitable[None]]


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


async def run(services: Services, handler: Handler, scope: Scope, receive: Any, send: Any) -> None:
    """Run one handler with the per-request context, error mapping and access log."""
    ctx = RequestContext(
        request_id=new_request_id(),
        method=scope["method"],
        path=scope["path"],
        started=time.perf_counter(),
        wall_started=time.time(),
    )
    headers: Headers = [(b"x-request-id", ctx.request_id.encode())]
    try:
        await handler(Exchange(services, ctx, scope, receive, send, headers))
    except GatewayError as err:
        ctx.status, ctx.error_code = err.status, err.code
        await send_error(send, err, headers)
    except ClientGone:
        ctx.client_gone = True
    except Exception:
        log.exception("unhandled error in %s %s", ctx.method, ctx.path)
        ctx.status = 500
        await send_error(send, _INTERNAL, headers)
    finally:
        if services.config.server.access_log:
            write_access_log(ctx)


def _require(ex: Exchange, *methods: str) -> None:
    method = ex.scope["method"]
    if method not in methods:
        raise MethodNotAllowed(
            f"Method {method} is not allowed on {ex.scope['path']}.", code="method_not_allowed"
        )


async def _caller(ex: Exchange) -> Caller:
    auth = header(ex.scope, b"authorization")
    caller = await ex.services.authenticate(auth.decode("latin-1") if auth else None)
    ex.ctx.tenant, ex.ctx.subject = caller.principal.tenant, caller.principal.subject
    return caller


async def _forward(
    ex: Exchange,
    upstream: str,
    path: str,
    body: bytes | None,
    shape: Shape,
    outcome: Outcome,
    *,
    on_response_id: OnResponseId | None = None,
    strip_usage: bool = False,
) -> None:
    client = ex.services.pool.get(upstream)
    api_key = client.upstream.api_key
    resp = await client.send(
        ex.scope["method"],
        path,
        ex.scope["query_string"],
        upstream_request_headers(ex.scope["headers"], api_key),
        body,
    )
    await relay(
        ex.ctx,
        outcome,
        resp,
        ex.send,
        ex.receive,
        shape=shape,
        api_key=api_key,
        upstream=upstream,
        headers=ex.headers,
        on_response_id=on_response_id,
        strip_usage=strip_usage,
    )


def create(shape: Shape, upstream_path: str) -> Handler:
    """``POST /v1/responses`` and ``POST /v1/chat/completions``: admitted, forwarded, metered."""

    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        ctx.endpoint = shape.endpoint
        _require(ex, "POST")
        caller = await _caller(ex)
        config = services.config
        raw = await read_body(ex.scope, ex.receive, config.server.max_body_bytes)
        body = parse_json_object(raw)
        req = shape.parse(body)
        ctx.model, ctx.stream = req.model, req.stream
        policy, tenant = caller.policy, caller.principal.tenant
        model = resolve_model(config, policy, req.model)
        prev = req.previous_response_id
        if prev is not None and not await services.ownership.owned_by(prev, tenant):
            raise BadRequest(
                f"Previous response with id '{prev}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        applied = shape.apply_policy(body, policy, model, tenant, req.stream)
        if model.upstream_model != req.model:
            body["model"] = model.upstream_model
        if applied.changed or model.upstream_model != req.model:
            raw = orjson.dumps(body)
        price = services.price_for(model)
        bound = 0
        if price is not None:
            bound = admission_bound(raw, body, model, price, applied, config.pricing)
        now = time.time()
        ticket = services.quota.admit(
            tenant,
            model.name,
            policy,
            bound=bound,
            tokens=token_estimate(raw, applied.cap * applied.choices),
            now=now,
        )
        ex.headers.extend((k.encode(), v.encode()) for k, v in ticket.headers.items())
        ex.headers.append((b"x-gateway-output-cap", applied.cap_header.encode()))
        ownership = services.ownership

        def owned(response_id: str) -> None:
            ownership.record(response_id, tenant)

        outcome = Outcome()
        try:
            await _forward(
                ex,
                model.upstream,
                upstream_path,
                raw,
                shape,
                outcome,
                on_response_id=owned if shape is RESPONSES else None,
                strip_usage=applied.injected_usage,
            )
        finally:
            services.recorder.finish(
                ctx,
                ticket,
                measure(shape, outcome, len(raw)),
                upstream_model=model.upstream_model,
                status=outcome.status,
            )

    return handle


def stored_response(suffix: str, methods: tuple[str, ...]) -> Handler:
    """``GET|DELETE /v1/responses/{id}``, ``POST …/cancel``, ``GET …/input_items``.

    A tenant naming another tenant's id gets exactly the 404 an id that never
    existed gets, so ids cannot be probed across tenants.
    """

    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        ctx.endpoint = "responses" + suffix.replace("/", ".")
        _require(ex, *methods)
        caller = await _caller(ex)
        response_id = ex.scope["path_params"]["response_id"]
        ctx.response_id = response_id
        if not await services.ownership.owned_by(response_id, caller.principal.tenant):
            raise NotFound(
                f"No response found with id '{response_id}'.", param="response_id", code=None
            )
        body: bytes | None = None
        if ex.scope["method"] == "POST":
            body = await read_body(ex.scope, ex.receive, services.config.server.max_body_bytes)
        # Stored responses live on the first upstream; with one upstream (the
        # common case) that is unambiguous.
        upstream = next(iter(services.config.upstreams))
        path = f"/responses/{response_id}{suffix}"
        await _forward(ex, upstream, path, body, RESPONSES, Outcome())
        if ex.scope["method"] == "DELETE" and ctx.status == 200:
            services.ownership.forget(response_id)

    return handle
