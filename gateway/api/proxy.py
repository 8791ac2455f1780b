"""HTTP handlers for the proxied OpenAI endpoints (raw ASGI: they are the hot path).

Each handler parses the request, asks the services for decisions and
forwards; the decisions themselves live in auth/, policy/ and ownership/.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.api.asgi import ClientGone, Headers, Scope, header, read_body, send_error
from gateway.api.relay import (
    Answer,
    OnResponseId,
    buffer_stream,
    deliver,
    read_answer,
    relay,
    relay_stream,
)
from gateway.config.runtime import Model, RuntimeConfig, Upstream
from gateway.errors import BadRequest, GatewayError, InternalError, MethodNotAllowed, NotFound
from gateway.metering.outcome import Measured, Outcome, measure
from gateway.policy import check_requested
from gateway.routing import NO_FEATURES, Plan, classify, features_of, plan
from gateway.services import Caller, Services
from gateway.shapes.adapters import RESPONSES, Shape, parse_json_object
from gateway.telemetry.access_log import RequestContext
from gateway.telemetry.metrics import status_class
from gateway.upstream import client_response_headers, upstream_request_headers

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
    span: Any = None  # the request's trace span, when tracing is on


Handler = Callable[[Exchange], Awaitable[None]]


_ID_PREFIX = "req_" + os.urandom(6).hex()
_ids = itertools.count(1)


def new_request_id() -> str:
    """Unique across processes (random prefix per process) and cheap (a counter)."""
    return f"{_ID_PREFIX}{next(_ids):012x}"


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
    metrics, tracing = services.metrics, services.tracing
    span = tracing.request_span("chat", scope["headers"]) if tracing.enabled else None
    metrics.in_flight += 1
    try:
        await handler(Exchange(services, ctx, scope, receive, send, headers, span))
    except GatewayError as err:
        ctx.status, ctx.error_code = err.status, err.code
        if ctx.upstream_s is None and err.status < 500:
            metrics.rejections(tenant_label(services, ctx), err.code or err.type).inc()
        await send_error(send, err, headers)
    except ClientGone:
        ctx.client_gone = True
    except Exception:
        log.exception("unhandled error in %s %s", ctx.method, ctx.path)
        ctx.status = 500
        await send_error(send, _INTERNAL, headers)
    finally:
        metrics.in_flight -= 1
        _observe_request(services, ctx)
        if span is not None:
            _end_request_span(span, ctx)
        if services.config.server.access_log:
            services.access_log.write(ctx)


def _end_request_span(span: Any, ctx: RequestContext) -> None:
    if ctx.model:
        span.update_name(f"chat {ctx.model}")
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": ctx.model,
        "gen_ai.response.model": ctx.served_model,
        "gen_ai.response.id": ctx.response_id,
        "gen_ai.usage.input_tokens": ctx.input_tokens,
        "gen_ai.usage.output_tokens": ctx.output_tokens,
        "http.response.status_code": ctx.status,
        "gateway.request_id": ctx.request_id,
        "gateway.endpoint": ctx.endpoint,
        "gateway.tenant": ctx.tenant,
        "gateway.route": ctx.route,
        "gateway.cost_usd": ctx.cost_nanos / 1e9 if ctx.cost_nanos is not None else None,
        "error.type": ctx.error_code,
    }
    span.set_attributes({k: v for k, v in attributes.items() if v is not None})
    span.end()


def tenant_label(services: Services, ctx: RequestContext) -> str:
    """Tenants from the config by name; any other (served by ``defaults``) as one label."""
    if ctx.tenant is None:
        return "_none"
    return ctx.tenant if ctx.tenant in services.config.tenants else "_default"


def _observe_request(services: Services, ctx: RequestContext) -> None:
    metrics, config = services.metrics, services.config
    model = ctx.model if ctx.model in config.models or ctx.model in config.routes else "_other"
    route = ctx.route or "-"
    duration = time.perf_counter() - ctx.started
    metrics.requests(
        tenant_label(services, ctx),
        route,
        model or "_none",
        ctx.endpoint,
        status_class(ctx.status),
    ).inc()
    metrics.request_duration(ctx.endpoint, route).observe(duration)
    if ctx.upstream_s is not None:
        metrics.overhead(ctx.endpoint).observe(max(duration - ctx.upstream_s, 0.0))
    if ctx.ttft_s is not None:
        metrics.ttft(ctx.endpoint, route, model or "_none").observe(ctx.ttft_s)


def require_method(ex: Exchange, *methods: str) -> None:
    method = ex.scope["method"]
    if method not in methods:
        raise MethodNotAllowed(
            f"Method {method} is not allowed on {ex.scope['path']}.",
            code="method_not_allowed",
            headers={"allow": ", ".join(methods)},  # RFC 9110: a 405 says what is allowed
        )


async def caller_of(ex: Exchange) -> Caller:
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
    """``POST /v1/responses`` and ``POST /v1/chat/completions``: planned, admitted, metered."""

    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        config = services.config  # this request runs on the config it started with
        ctx.endpoint = shape.endpoint
        require_method(ex, "POST")
        caller = await caller_of(ex)
        raw = await read_body(
            ex.scope, ex.receive, config.server.max_body_bytes, config.server.body_timeout_s
        )
        body = parse_json_object(raw)
        req = shape.parse(body)
        ctx.model, ctx.stream = req.model, req.stream
        tenant = caller.principal.tenant
        check_requested(config, caller.policy, req.model)
        prev = req.previous_response_id
        if prev is not None and not await services.ownership.owned_by(prev, tenant):
            raise BadRequest(
                f"Previous response with id '{prev}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        hint = header(ex.scope, b"x-gateway-route")
        features = (
            features_of(tenant, body, raw, hint.decode("latin-1") if hint else None)
            if (req.model in config.routes)
            else NO_FEATURES
        )
        split_key = header(ex.scope, b"x-request-id")
        route_plan = plan(
            config,
            req.model,
            features,
            split_key.decode("latin-1") if split_key else ctx.request_id,
        )
        await _serve(ex, config, shape, upstream_path, caller, req.stream, body, raw, route_plan)

    return handle


@dataclass(slots=True)
class _Trail:
    """What the attempts of one request did, for the x-gateway-* headers."""

    route: str | None
    attempts: int = 0
    escalations: list[str] = field(default_factory=list)
    served: str | None = None

    def headers(self) -> Headers:
        out = [
            (b"x-gateway-route", (self.route or "-").encode()),
            (b"x-gateway-attempts", str(self.attempts).encode()),
        ]
        if self.served:
            out.append((b"x-gateway-model", self.served.encode()))
        if self.escalations:
            out.append((b"x-gateway-escalations", ",".join(self.escalations).encode()))
        return out


async def _serve(
    ex: Exchange,
    config: RuntimeConfig,
    shape: Shape,
    upstream_path: str,
    caller: Caller,
    stream: bool,
    original: dict[str, Any],
    original_raw: bytes,
    route_plan: Plan,
) -> None:
    """Try the plan's ladder rung by rung, retrying idempotent failures; deliver one answer.

    Every attempt is admitted (its bound reserved) and metered on its own. An
    answer is read whole before it is judged, so the client sees exactly one
    clean answer; a stream is the client's from its first byte, unless the
    route buffers streams.
    """
    services, ctx = ex.services, ex.ctx
    tenant = caller.principal.tenant
    ownership = services.ownership

    def owned(response_id: str) -> None:
        ownership.record(response_id, tenant)

    on_id = owned if shape is RESPONSES else None
    trail = _Trail(route_plan.route)
    ctx.route = route_plan.route
    last: tuple[Answer, Outcome, Headers] | None = None
    for rung, model in enumerate(route_plan.ladder):
        retries = 0
        while True:
            # Each attempt starts from the client's request (policy rewrites it per model).
            body = original if trail.attempts == 0 else orjson.loads(original_raw)
            applied = shape.apply_policy(body, caller.policy, model, tenant, stream)
            body["model"] = model.upstream_model
            raw = orjson.dumps(body)
            try:
                ref = (ctx.request_id, trail.attempts + 1)
                ticket = await services.admit(config, caller, model, raw, body, applied, ref)
            except GatewayError:
                if last is None:
                    raise
                return await _deliver(ex, trail, last, on_id)  # no budget to escalate
            trail.attempts += 1
            trail.served = model.upstream_model
            headers = [
                *((k.encode(), v.encode()) for k, v in ticket.headers.items()),
                (b"x-gateway-output-cap", applied.cap_header.encode()),
            ]
            client = services.pool.get(model.upstream)
            outcome = Outcome()
            answer: Answer | None = None
            failure: GatewayError | None = None
            sent_at = time.perf_counter()
            up_headers = upstream_request_headers(ex.scope["headers"], client.upstream.api_key)
            attempt_span = None
            if ex.span is not None:
                name = f"chat {model.upstream_model}"
                attempt_span = services.tracing.attempt_span(ex.span, name, up_headers)
            try:
                resp = await client.send(
                    "POST", upstream_path, ex.scope["query_string"], up_headers, raw
                )
                streaming = resp.status < 400 and resp.content_type == "text/event-stream"
                if streaming and not route_plan.buffer_streams:
                    out = ex.headers + headers + trail.headers()
                    out += client_response_headers(resp.headers)
                    await relay_stream(
                        ctx, outcome, resp, ex.send, ex.receive, shape, out, on_id,
                        applied.injected_usage,
                    )  # fmt: skip
                    return
                if streaming:
                    answer = await buffer_stream(ctx, outcome, resp, shape, applied.injected_usage)
                else:
                    answer = await read_answer(
                        ctx, outcome, resp, api_key=client.upstream.api_key, upstream=model.upstream
                    )
            except GatewayError as err:
                outcome.error_code, failure = err.code, err
            finally:
                measured = measure(shape, outcome, len(raw))
                services.recorder.finish(
                    ctx, ticket, measured, config=config, upstream_model=model.upstream_model,
                    status=outcome.status, attempt=trail.attempts,
                )  # fmt: skip
                client.note(outcome.status, failure)
                _observe_attempt(services, model, outcome, failure, time.perf_counter() - sent_at)
                if attempt_span is not None:
                    _end_attempt_span(attempt_span, model, outcome, measured, trail.attempts)
            if measured.served_model:
                trail.served = measured.served_model
            ctx.served_model = trail.served
            if answer is not None:
                last = (answer, outcome, headers)
            reasons = classify(shape.endpoint, outcome, body)
            if not reasons and last is not None:
                return await _deliver(ex, trail, last, on_id)
            retryable = reasons and reasons[0] in _RETRYABLE and not client.circuit_open()
            if retryable and retries < client.upstream.max_retries:
                retries += 1
                await asyncio.sleep(_backoff(client.upstream, retries, answer, route_plan))
                continue
            escalate = [r for r in reasons if r in route_plan.escalate_on]
            if escalate and rung + 1 < len(route_plan.ladder):
                nxt = route_plan.ladder[rung + 1]
                trail.escalations.append(f"{model.name}>{nxt.name}:{escalate[0]}")
                services.metrics.escalations(
                    route_plan.route or "-", model.name, nxt.name, escalate[0]
                ).inc()
                break
            if last is not None:  # the last real answer beats an error
                return await _deliver(ex, trail, last, on_id)
            assert failure is not None
            ex.headers.extend(trail.headers())
            raise failure


_RETRYABLE = frozenset({"upstream_error", "timeout", "rate_limited"})


def _end_attempt_span(
    span: Any, model: Model, outcome: Outcome, measured: Measured, attempt: int
) -> None:
    usage = measured.usage
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model.upstream_model,
        "gen_ai.response.model": measured.served_model,
        "gen_ai.usage.input_tokens": usage.total_input,
        "gen_ai.usage.output_tokens": usage.total_output,
        "http.response.status_code": outcome.status,
        "gateway.attempt": attempt,
        "gateway.outcome": measured.outcome,
        "error.type": outcome.error_code,
    }
    span.set_attributes({k: v for k, v in attributes.items() if v is not None})
    span.end()


def _observe_attempt(
    services: Services, model: Model, outcome: Outcome, failure: GatewayError | None, took: float
) -> None:
    metrics = services.metrics
    metrics.upstream_duration(model.upstream, model.name).observe(took)
    if failure is not None:
        metrics.upstream_errors(model.upstream, failure.code or "transport").inc()
    elif outcome.status >= 400:
        kind = "status_429" if outcome.status == 429 else f"status_{outcome.status // 100}xx"
        metrics.upstream_errors(model.upstream, kind).inc()


def _backoff(upstream: Upstream, retry: int, answer: Answer | None, route_plan: Plan) -> float:
    """Exponential backoff with full jitter; an upstream's short Retry-After is honoured."""
    if answer is not None:
        for name, value in answer.headers:
            if name == b"retry-after":
                try:
                    wait = float(value)
                except ValueError:
                    break
                if wait <= route_plan.retry_after_max_s:
                    return wait
    ceiling = min(upstream.retry_max_s, upstream.retry_base_s * 2 ** (retry - 1))
    return random.uniform(0, ceiling)


async def _deliver(
    ex: Exchange,
    trail: _Trail,
    last: tuple[Answer, Outcome, Headers],
    on_id: OnResponseId | None,
) -> None:
    answer, outcome, headers = last
    rid = outcome.body.get("id") if outcome.body is not None else None
    if rid is None and outcome.facts is not None:
        rid = outcome.facts.response_id
    out = ex.headers + headers + trail.headers()
    await deliver(ex.ctx, answer, ex.send, out, on_id, rid if isinstance(rid, str) else None)


def stored_response(suffix: str, methods: tuple[str, ...]) -> Handler:
    """``GET|DELETE /v1/responses/{id}``, ``POST …/cancel``, ``GET …/input_items``.

    A tenant naming another tenant's id gets exactly the 404 an id that never
    existed gets, so ids cannot be probed across tenants.
    """

    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        ctx.endpoint = "responses" + suffix.replace("/", ".")
        require_method(ex, *methods)
        caller = await caller_of(ex)
        response_id = ex.scope["path_params"]["response_id"]
        ctx.response_id = response_id
        if not await services.ownership.owned_by(response_id, caller.principal.tenant):
            raise NotFound(
                f"No response found with id '{response_id}'.", param="response_id", code=None
            )
        body: bytes | None = None
        if ex.scope["method"] == "POST":
            body = await read_body(
                ex.scope,
                ex.receive,
                services.config.server.max_body_bytes,
                services.config.server.body_timeout_s,
            )
        # Stored responses live on the first upstream; with one upstream (the
        # common case) that is unambiguous.
        upstream = next(iter(services.config.upstreams))
        path = f"/responses/{response_id}{suffix}"
        await _forward(ex, upstream, path, body, RESPONSES, Outcome())
        if ex.scope["method"] == "DELETE" and ctx.status == 200:
            services.ownership.forget(response_id)

    return handle
