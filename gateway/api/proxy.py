"""HTTP handlers for the proxied OpenAI endpoints (raw ASGI: they are the hot path).

A handler parses and responds: the call itself — prepare, admit, forward,
measure, settle, decide — is `gateway.pipeline`'s. ``run`` wraps every
handler with the request's context, the one error rendering, metrics, span
and access-log line.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.api.asgi import (
    ClientGone,
    Headers,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_error,
)
from gateway.auth.callers import Caller
from gateway.errors import GatewayError
from gateway.errors.wire import INTERNAL
from gateway.guardrails.moderation import pre_check
from gateway.guardrails.pii.policy import redact
from gateway.guardrails.pii.restore import restoring_send
from gateway.pipeline.context import GATEWAY_ID, RequestContext
from gateway.pipeline.prepare import prepare
from gateway.policy.tags import HEADER as TAGS_HEADER
from gateway.routing.deprecation import REFUSED
from gateway.services import Services
from gateway.shapes.endpoint import Endpoint, parse_json_object
from gateway.shapes.form import parse_form
from gateway.telemetry.labels import model_label, tenant_label
from gateway.telemetry.metrics import status_class

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Exchange:
    """One request's ASGI channel, its context and the services that answer it."""

    services: Services
    ctx: RequestContext
    scope: Scope
    receive: Receive
    send: Send
    headers: Headers  # response headers the gateway adds (x-gateway-request-id)
    span: Any = None  # the request's trace span, when tracing is on


Handler = Callable[[Exchange], Awaitable[None]]


async def run(
    services: Services, handler: Handler, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run one handler with the per-request context, error mapping and access log."""
    ctx = RequestContext.start(scope["method"], scope["path"])
    # The upstream's answer brings OpenAI's x-request-id; the gateway's own id goes beside it.
    headers: Headers = [(GATEWAY_ID, ctx.request_id.encode())]
    metrics, tracing = services.metrics, services.tracing
    span = tracing.request_span("chat", scope["headers"]) if tracing.enabled else None
    metrics.in_flight += 1
    try:
        await handler(Exchange(services, ctx, scope, receive, send, headers, span))
    except GatewayError as err:
        ctx.status, ctx.error_code = err.status, err.code
        if ctx.upstream_s is None and err.status < 500:
            metrics.rejections(
                tenant_label(services.config, ctx.tenant), err.code or err.type
            ).inc()
        await send_error(send, err, _own_ids(headers, ctx))
    except ClientGone:
        ctx.client_gone = True
    except Exception:
        log.exception("unhandled error in %s %s", ctx.method, ctx.path)
        ctx.status = 500
        await send_error(send, INTERNAL, _own_ids(headers, ctx))
    finally:
        metrics.in_flight -= 1
        _observe_request(services, ctx)
        if span is not None:
            _end_request_span(span, ctx)
        if services.config.server.access_log:
            services.access_log.write(ctx)


def _own_ids(headers: Headers, ctx: RequestContext) -> Headers:
    """An answer the gateway makes itself carries its id as ``x-request-id`` too."""
    return [*headers, (b"x-request-id", ctx.request_id.encode())]


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


def _observe_request(services: Services, ctx: RequestContext) -> None:
    metrics, config = services.metrics, services.config
    model = model_label(config, ctx.rung or ctx.model)  # the model that served, not an alias
    route = ctx.route or "-"
    duration = time.perf_counter() - ctx.started
    tenant = tenant_label(config, ctx.tenant)
    metrics.requests(tenant, route, model, ctx.endpoint, status_class(ctx.status)).inc()
    metrics.request_duration(ctx.endpoint, route).observe(duration)
    if ctx.upstream_s is not None:
        metrics.overhead(ctx.endpoint).observe(max(duration - ctx.upstream_s, 0.0))
    if ctx.ttft_s is not None:
        metrics.ttft(ctx.endpoint, route, model).observe(ctx.ttft_s)


async def caller_of(ex: Exchange) -> Caller:
    auth = header(ex.scope, b"authorization")
    caller = await ex.services.auth.caller(auth.decode("latin-1") if auth else None)
    ex.ctx.tenant, ex.ctx.subject = caller.tenant, caller.principal.subject
    ex.ctx.service = caller.service
    return caller


async def body_of(ex: Exchange) -> bytes:
    server = ex.services.config.server
    return await read_body(ex.scope, ex.receive, server.max_body_bytes, server.body_timeout_s)


_UPLOAD_OVERHEAD = 64 * 1024  # a form's boundaries and small fields around its files


async def upload_of(ex: Exchange, caller: Caller) -> bytes:
    """A multipart upload's body, within the tenant's file size limit."""
    limit = caller.policy.files.max_bytes + _UPLOAD_OVERHEAD
    timeout = ex.services.config.server.body_timeout_s
    return await read_body(ex.scope, ex.receive, limit, timeout)


def content_type_of(ex: Exchange) -> str:
    value = header(ex.scope, b"content-type")
    return value.decode("latin-1") if value else ""


def create(endpoint: Endpoint) -> Handler:
    """``POST`` of a metered endpoint: parsed here, then the pipeline's from prepare to settle."""

    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        config = services.config  # this request runs on the config it started with
        ctx.endpoint = endpoint.name
        caller = await caller_of(ex)
        if endpoint.form:
            raw = await upload_of(ex, caller)
            body: dict[str, Any] = parse_form(raw, content_type_of(ex)).body()
        else:
            raw = await body_of(ex)
            body = parse_json_object(raw)
        hint = header(ex.scope, b"x-gateway-route")
        split_key = header(ex.scope, b"x-request-id")
        try:
            prepared = await prepare(
                config,
                caller,
                endpoint,
                body,
                raw,
                owners=services.ownership,
                split_key=split_key.decode("latin-1") if split_key else ctx.request_id,
                hint=hint.decode("latin-1") if hint else None,
                fetch=services.pipeline.fetch,
                tags_header=header(ex.scope, TAGS_HEADER),
            )
        except REFUSED as retired:
            services.metrics.deprecated_calls.note(config, ctx.tenant, ctx.service, retired.notice)
            raise
        if prepared.deprecation is not None:
            ex.headers.extend(prepared.deprecation.headers())
            notice = prepared.deprecation
            services.metrics.deprecated_calls.note(config, ctx.tenant, ctx.service, notice)
        request = prepared.request
        ctx.model, ctx.stream, ctx.background = request.model, request.stream, request.background
        ctx.tags = prepared.tags
        prepared = await redact(prepared, services.metrics, ctx.request_id)
        if prepared.pii is not None:  # the answer goes back with the masked values restored
            ex = dataclasses.replace(ex, send=restoring_send(ex.send, prepared.pii))
        await pre_check(services.pipeline, prepared, ctx)  # on the masked input
        await services.pipeline.serve(ex, prepared)

    return handle
