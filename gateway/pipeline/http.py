"""A prepared call over HTTP: attempts along the ladder until one answer goes to the client.

Each attempt is an :class:`~gateway.pipeline.attempt.Attempt` (admitted,
metered, settled once); what follows it is :func:`~gateway.pipeline.decide.decide`'s
call. An answer is read whole before it is judged, so the client sees
exactly one clean answer; a stream is the client's from its first byte,
unless the route buffers streams to judge them first.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from gateway.api.asgi import Headers, Receive, Scope, Send
from gateway.errors import GatewayError
from gateway.metering.outcome import Outcome
from gateway.pipeline.attempt import Attempt
from gateway.pipeline.context import RequestContext
from gateway.pipeline.decide import Next, Tried, backoff, decide
from gateway.pipeline.prepare import Prepared, for_model
from gateway.pipeline.relay import (
    Answer,
    OnResponseId,
    buffer_stream,
    deliver,
    is_bytes_answer,
    read_answer,
    relay_bytes,
    relay_stream,
)
from gateway.pipeline.repair import Amend, amendment
from gateway.routing import classify
from gateway.upstream import UpstreamClient, client_response_headers, upstream_request_headers

if TYPE_CHECKING:
    from gateway.pipeline.core import Pipeline


class Downstream(Protocol):
    """The client's side of one HTTP exchange."""

    @property
    def ctx(self) -> RequestContext: ...
    @property
    def scope(self) -> Scope: ...
    @property
    def receive(self) -> Receive: ...
    @property
    def send(self) -> Send: ...
    @property
    def headers(self) -> Headers:
        """Response headers the gateway adds (x-gateway-request-id)."""
        ...

    @property
    def span(self) -> Any:
        """The request's trace span, when tracing is on."""
        ...


@dataclass(slots=True)
class Trail:
    """What the attempts of one request did, for the ``x-gateway-*`` headers."""

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


@dataclass(slots=True)
class _Last:
    """The latest real answer: it beats an error if nothing better comes."""

    answer: Answer
    outcome: Outcome
    headers: Headers


async def serve(pipeline: Pipeline, down: Downstream, prepared: Prepared) -> None:
    ctx, route_plan = down.ctx, prepared.plan
    trail = Trail(route_plan.route)
    ctx.route = route_plan.route
    on_id = _owner(pipeline, prepared)
    last: _Last | None = None
    rung = retries = 0
    amend: Amend | None = None  # a JSON repair's turns, while on the rung that failed
    while True:
        model = route_plan.ladder[rung]
        client = pipeline.pool.get(model.upstream)
        answer: Answer | None = None
        try:
            request = for_model(prepared, model, first=trail.attempts == 0, amend=amend)
            up_headers = upstream_request_headers(down.scope["headers"], client.upstream.api_key)
            attempt = Attempt(
                pipeline, ctx, prepared, request, trail.attempts + 1, up_headers, down.span
            )
            async with attempt:
                trail.attempts += 1
                ctx.attempts = trail.attempts
                trail.served, ctx.rung = model.upstream_model, model.name
                answer = await _forward(attempt, client, down, trail, on_id)
                if answer is None:
                    return  # streamed to the client as it came
                last = _Last(answer, attempt.outcome, _admission_headers(attempt))
        except GatewayError:  # refused before it was sent: no budget to go on with
            if last is None:
                raise
            return await _deliver(down, trail, last, on_id)
        assert attempt.measured is not None
        if last is not None and last.outcome is attempt.outcome and attempt.truncated:
            last.headers.append((b"x-gateway-truncated", b"output_cap"))
        trail.served = attempt.measured.served_model or trail.served
        ctx.served_model = trail.served
        # Quality only matters where a next rung (or a repair) could do better.
        repairable = "repair" in route_plan.on_invalid_json and amend is None
        better = rung + 1 < len(route_plan.ladder) or repairable
        judge = prepared.endpoint.judge if better else None
        reasons = tuple(classify(judge, attempt.outcome, request.body))
        circuit_open = bool(reasons) and client.circuit_open()
        max_retries = client.upstream.max_retries
        tried = Tried(
            rung, retries, reasons, last is not None, max_retries, circuit_open, amend is not None
        )
        step = decide(route_plan, tried)
        if step.next is Next.DELIVER:
            assert last is not None
            return await _deliver(down, trail, last, on_id)
        if step.next is Next.RETRY:
            retries += 1
            retry_after = _header(answer.headers, b"retry-after") if answer else None
            wait = backoff(client.upstream, retries, retry_after, route_plan, random.uniform)
            await asyncio.sleep(wait)
            continue
        if step.next is Next.REPAIR:
            name = prepared.endpoint.name
            amend = amendment(name, attempt.outcome, request.body, step.reason)
            _moved(pipeline, ctx, trail, model.name, model.name, "repair")
            retries = 0
            continue
        if step.next is Next.ESCALATE:
            nxt = route_plan.ladder[rung + 1]
            _moved(pipeline, ctx, trail, model.name, nxt.name, step.reason or "-")
            rung, retries, amend = rung + 1, 0, None
            continue
        assert attempt.failure is not None
        down.headers.extend(trail.headers())
        raise attempt.failure


async def _forward(
    attempt: Attempt,
    client: UpstreamClient,
    down: Downstream,
    trail: Trail,
    on_id: OnResponseId | None,
) -> Answer | None:
    """Send the attempt; stream it to the client (None), or read the answer to judge it."""
    prepared, request, ctx, outcome = (
        attempt.prepared,
        attempt.request,
        attempt.ctx,
        attempt.outcome,
    )
    endpoint = prepared.endpoint
    query = down.scope["query_string"]
    resp = await client.send("POST", endpoint.upstream_path, query, attempt.headers, request.raw)
    ctx.upstream_request_id = resp.headers.get("x-request-id")
    injected = request.applied.injected_usage
    rates = not attempt.call.ticket.headers  # no limits of its own: the upstream's show
    if resp.status < 400 and resp.content_type == "text/event-stream":
        if not prepared.plan.buffer_streams:
            out = down.headers + _admission_headers(attempt) + trail.headers()
            out += client_response_headers(resp.headers, rate_limits=rates)
            await relay_stream(
                ctx, outcome, resp, down.send, down.receive, endpoint, out, on_id, injected
            )
            return None
        return await buffer_stream(ctx, outcome, resp, endpoint, injected, rates)
    if endpoint.bytes_out and is_bytes_answer(resp):  # speech: audio as it is made
        out = down.headers + _admission_headers(attempt) + trail.headers()
        await relay_bytes(ctx, outcome, resp, down.send, down.receive, out, rates)
        return None
    key, name = client.upstream.api_key, client.upstream.name
    answer = await read_answer(ctx, outcome, resp, api_key=key, upstream=name, rate_limits=rates)
    if endpoint.to_client is not None and outcome.body is not None and answer.status < 400:
        answer.body = orjson.dumps(endpoint.to_client(outcome.body))
    return answer


def _moved(
    pipeline: Pipeline, ctx: RequestContext, trail: Trail, frm: str, to: str, reason: str
) -> None:
    """An escalation (or a repair: from and to the same model) in the trail and the metric."""
    trail.escalations.append(f"{frm}>{to}:{reason}")
    ctx.escalations = tuple(trail.escalations)
    pipeline.metrics.escalations(ctx.route or "-", frm, to, reason).inc()


def _admission_headers(attempt: Attempt) -> Headers:
    """What admission says about the call: rate-limit state and the output cap in force."""
    ticket = attempt.call.ticket
    return [
        *((k.encode(), v.encode()) for k, v in ticket.headers.items()),
        (b"x-gateway-output-cap", attempt.request.applied.cap_header.encode()),
    ]


async def _deliver(down: Downstream, trail: Trail, last: _Last, on_id: OnResponseId | None) -> None:
    outcome = last.outcome
    rid = outcome.body.get("id") if outcome.body is not None else None
    if rid is None and outcome.facts is not None:
        rid = outcome.facts.response_id
    out = down.headers + last.headers + trail.headers()
    rid = rid if isinstance(rid, str) else None
    await deliver(down.ctx, last.answer, down.send, out, on_id, rid)


def _owner(pipeline: Pipeline, prepared: Prepared) -> OnResponseId | None:
    """Records the id a request's answer creates (a stored response) as the caller's."""
    kind = prepared.request.creates
    if kind is None:
        return None
    record, tenant = pipeline.ownership.record, prepared.caller.tenant

    def owned(object_id: str) -> None:
        record(object_id, tenant, kind.name)

    return owned


def _header(headers: Headers, name: bytes) -> bytes | None:
    return next((v for k, v in headers if k == name), None)
