"""Responses WebSocket mode (``GET /v1/responses``): each ``response.create`` as a metered call.

A socket carries many responses. Each ``response.create`` is prepared and
admitted by the pipeline exactly as ``POST /v1/responses`` is (the route's
first rung: a socket answer cannot be taken back to escalate); refusals are
``error`` events in this mode's nested shape, and the socket stays open. A
deprecated model is rewritten or refused as over HTTP and counted; a warning has
no headers to ride on here, so it is only counted. The tenant's guardrails apply
as over HTTP: redaction (and restoring what the client gets), the moderation
pre-check, and the count of the functions its answers call.
Each terminal event (``response.completed``/``.incomplete``/``.failed``)
settles its call as it arrives.

Lanes (``stream_id``) run FIFO, so a lane's next ``response.created`` belongs
to its oldest create. A ``response.steer`` names the response it steers
(``previous_response_id``); a successor the server may start for it is
reserved when the steer is sent, like that response, and billed on its own.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import Any

import orjson

from gateway.auth.callers import Caller
from gateway.config.runtime import RuntimeConfig
from gateway.errors import BadRequest, GatewayError
from gateway.errors.wire import responses_socket_event
from gateway.guardrails.moderation import pre_check
from gateway.guardrails.pii.mask import Vault
from gateway.guardrails.pii.policy import redact
from gateway.guardrails.pii.restore import SocketRestorer
from gateway.guardrails.toolcalls import called
from gateway.metering.outcome import Measured, Outcome, estimated, from_answer
from gateway.metering.usage import Usage
from gateway.pipeline.context import RequestContext, new_request_id
from gateway.pipeline.core import Pipeline
from gateway.pipeline.meter import Call
from gateway.pipeline.prepare import AttemptRequest, for_model, prepare
from gateway.quota.bound import cost_bound, input_bound_tokens, token_estimate
from gateway.realtime.decision import Decision
from gateway.routing.deprecation import REFUSED
from gateway.shapes.refs import RESPONSE
from gateway.shapes.responses import RESPONSES_SOCKET
from gateway.telemetry.labels import tenant_label

_TERMINAL = ("response.completed", "response.incomplete", "response.failed")
_KNOWN_MAX = 256  # responses a steer may still name, per socket


@dataclass(slots=True)
class _Call:
    call: Call
    lane: str | None
    request_bytes: int
    events: int = 0
    vault: Vault | None = None  # its masked values, put back in what the client gets


@dataclass(slots=True)
class _Steer:
    target: _Call  # the response it steers
    successor: Call  # reserved for the successor it may start


class ResponsesSocketSession:
    def __init__(
        self, pipeline: Pipeline, config: RuntimeConfig, caller: Caller, upstream: str
    ) -> None:
        self.pipeline = pipeline
        self.config = config
        self.caller = caller
        self.upstream = upstream
        self._pending: dict[str | None, deque[_Call]] = {}  # created upstream next, by lane
        self._active: dict[str, _Call] = {}  # running, by response id
        self._known: OrderedDict[str, _Call] = OrderedDict()  # recent, by response id
        self._last: dict[str | None, _Call] = {}  # each lane's latest response
        self._steers: deque[_Steer] = deque()
        self._restorers: dict[str | None, SocketRestorer] = {}  # by lane, while one answers
        self.spent_nanos = 0
        self.session_id: str | None = None

    def opening_events(self) -> list[str]:
        return []

    def refusal(self, err: GatewayError) -> str:
        return responses_socket_event(err, None)

    async def on_client(self, text: str) -> Decision:
        """Only ``response.create`` and ``response.steer`` go upstream.

        Anything else is refused here, so an upstream ``error`` can only be the
        refusal of a create, and is matched to the right reservation.
        """
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return Decision(to_client=[responses_socket_event(BadRequest("Invalid JSON."), None)])
        kind = event.get("type") if isinstance(event, dict) else None
        lane = event.get("stream_id") if isinstance(event, dict) else None
        lane = lane if isinstance(lane, str) else None
        try:
            if kind == "response.create":
                call, forward = await self._admit(event, text, lane)
                self._pending.setdefault(lane, deque()).append(call)
                return Decision(forward=forward)
            if kind == "response.steer":
                self._steers.append(await self._reserve_successor(event))
                return Decision(forward=text)
            raise BadRequest(
                f"Unsupported event type {kind!r} on this socket.",
                param="type",
                code="unknown_event",
            )
        except GatewayError as err:
            return Decision(to_client=[responses_socket_event(err, lane)])

    async def _admit(self, event: dict[str, Any], text: str, lane: str | None) -> tuple[_Call, str]:
        body = {k: v for k, v in event.items() if k != "type"}
        request_id = new_request_id()
        owners, raw = self.pipeline.ownership, text.encode()
        deprecated, caller = self.pipeline.metrics.deprecated_calls, self.caller
        try:
            prepared = await prepare(
                self.config,
                caller,
                RESPONSES_SOCKET,
                body,
                raw,
                owners=owners,
                split_key=request_id,
            )
        except REFUSED as refused:  # the socket's `error` event, counted like HTTP's 404
            deprecated.note(self.config, caller.tenant, caller.service, refused.notice)
            raise
        if prepared.deprecation is not None:  # no per-call headers here: counted only
            deprecated.note(self.config, caller.tenant, caller.service, prepared.deprecation)
        prepared = await redact(prepared, self.pipeline.metrics, request_id)
        ctx = self._context(prepared.request.model, request_id)
        ctx.tags = prepared.tags  # from its `metadata` (a socket has no per-call headers)
        await pre_check(self.pipeline, prepared, ctx)
        model = prepared.plan.ladder[0]
        if model.upstream != self.upstream:
            raise BadRequest(
                f"`{model.name}` is served by another upstream than this socket's; "
                "use POST /v1/responses for it.",
                param="model",
                code="model_not_available_on_socket",
            )
        request = for_model(prepared, model, first=True)
        if body.get("generate") is False:  # a warm-up (Codex): it reads, it makes no output
            request = _warm_up(request, self.config)
        call = await self.pipeline.admit(ctx, prepared, request)
        forward = orjson.dumps({"type": "response.create", **request.body}).decode()
        return _Call(call, lane, len(request.raw), vault=prepared.pii), forward

    async def _reserve_successor(self, event: dict[str, Any]) -> _Steer:
        """A steer may start a successor of the response it names: reserved before it is sent."""
        rid = event.get("previous_response_id")
        target = self._known.get(rid) if isinstance(rid, str) else None
        if target is None:
            raise BadRequest(
                f"No response with id {rid!r} to steer on this socket.",
                param="previous_response_id",
                code="response_not_found",
            )
        return _Steer(target, await self._readmit(target, force=False))

    async def _readmit(self, like: _Call, *, force: bool) -> Call:
        """Another response like ``like``: the same model, bound and token estimate."""
        old = like.call
        ctx = self._context(old.ctx.model)
        ctx.tags = old.ctx.tags  # a successor is attributed like the response it follows
        return await self.pipeline.meter.admit(
            ctx,
            self.caller,
            self.config,
            old.model,
            bound=old.ticket.bound,
            tokens=old.ticket.tokens,
            force=force,
        )

    async def server_event(self, text: str) -> Decision:
        decision = await self._metered(text)
        return self._restored(decision) if self._restorers else decision

    def _restored(self, decision: Decision) -> Decision:
        """What the client gets of an upstream event when its lane's answer puts masked
        values back (``pii.restore``): metering has read the event as it came."""
        try:
            event = orjson.loads(decision.forward) if decision.forward is not None else None
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or decision.forward is None:
            return decision
        lane = event.get("stream_id") if isinstance(event.get("stream_id"), str) else None
        restorer = self._restorers.get(lane)
        if restorer is None:
            return decision
        out = restorer.event(decision.forward)
        if event.get("type") in (*_TERMINAL, "error"):
            out += restorer.flush()
            del self._restorers[lane]
        return Decision(to_client=out + decision.to_client)

    async def _metered(self, text: str) -> Decision:
        if '"response.output_text.delta"' in text[:48]:  # most frames: count, do not parse
            return self._count(text)
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return Decision(forward=text)
        if not isinstance(event, dict):
            return Decision(forward=text)
        kind = event.get("type")
        response = event.get("response")
        lane = event.get("stream_id") if isinstance(event.get("stream_id"), str) else None
        if kind == "response.created" and isinstance(response, dict):
            await self._created(response.get("id"), lane)
        elif kind in _TERMINAL and isinstance(response, dict):
            rid = response.get("id")
            done = self._active.pop(rid, None) if isinstance(rid, str) else None
            if done is not None:
                status = kind.removeprefix("response.")
                self._settle(done, from_answer(RESPONSES_SOCKET, response, status), 200)
                self.pipeline.own_items(self.caller.tenant, response)
                self._note_tool_calls(done, response)
        elif kind == "error":
            queue = self._pending.get(lane)
            if queue:  # the oldest create of that lane was refused upstream
                status = event.get("status")
                failed = Measured(Usage(), None, None, None, "failed", False)
                self._settle(queue.popleft(), failed, status if isinstance(status, int) else 400)
        return Decision(forward=text)

    async def _created(self, rid: Any, lane: str | None) -> None:
        if not isinstance(rid, str):
            return
        queue = self._pending.get(lane)
        if queue:
            call = queue.popleft()
        elif lane in self._last:
            # A successor the server started itself (steering): billed like the rest.
            call = await self._successor(self._last[lane])
        else:
            return
        self._active[rid] = self._last[lane] = self._known[rid] = call
        if call.vault is not None:
            self._restorers[lane] = SocketRestorer(call.vault)
        else:
            self._restorers.pop(lane, None)
        if len(self._known) > _KNOWN_MAX:
            self._known.popitem(last=False)
        call.call.ctx.response_id = rid
        self.pipeline.ownership.record(rid, self.caller.tenant, RESPONSE.name)

    async def _successor(self, previous: _Call) -> _Call:
        steer = next((s for s in self._steers if s.target.lane == previous.lane), None)
        if steer is not None:
            self._steers.remove(steer)
            return _Call(steer.successor, previous.lane, steer.target.request_bytes)
        # Started without a steer of ours (it cannot be refused now): billed anyway.
        call = await self._readmit(previous, force=True)
        return _Call(call, previous.lane, previous.request_bytes)

    def _context(self, model: str | None, request_id: str | None = None) -> RequestContext:
        ctx = RequestContext.start("GET", "/v1/responses", "responses.websocket", request_id)
        ctx.tenant, ctx.subject = self.caller.tenant, self.caller.principal.subject
        ctx.service = self.caller.service
        ctx.model, ctx.stream = model, True
        return ctx

    def _count(self, text: str) -> Decision:
        # For the estimate if the socket dies: deltas carry no response id, so the
        # oldest open call (the only one, unless lanes run side by side) gets them.
        call = next(iter(self._active.values()), None)
        if call is not None:
            call.events += 1
        return Decision(forward=text)

    def _note_tool_calls(self, done: _Call, response: dict[str, Any]) -> None:
        """Each function the model called, counted and logged by name as over HTTP."""
        names = called("responses", Outcome(status=200, body=response))
        if names:
            self.pipeline.metrics.tool_calls.note(
                names,
                tenant=tenant_label(self.config, self.caller.tenant),
                request_id=done.call.ctx.request_id,
                allowed=self.caller.policy.functions,
            )

    def close(self) -> None:
        """Calls still open when the socket ends: charged an estimate, marked so."""
        calls = [*self._active.values(), *(c for q in self._pending.values() for c in q)]
        for open_call in calls:
            usage = Usage(
                input_tokens=math.ceil(open_call.request_bytes / 4), output_tokens=open_call.events
            )
            self._settle(open_call, estimated(usage, open_call.call.ctx.response_id), 0)
        for steer in self._steers:  # steers that started no successor: nothing ran
            steer.successor.release()
        self._active.clear()
        self._pending.clear()
        self._steers.clear()

    def _settle(self, call: _Call, measured: Measured, status: int) -> None:
        self.spent_nanos += call.call.settle(measured, status)


def _warm_up(request: AttemptRequest, config: RuntimeConfig) -> AttemptRequest:
    """A ``generate: false`` response's bound: its input only."""
    price = config.pricing.price_for(request.model.upstream_model)
    if price is None:
        return request
    window = request.model.context_window
    tokens = input_bound_tokens(request.raw, request.body, window)
    bound = cost_bound(price, input_tokens=tokens, output_tokens=0)
    return replace(request, bound=bound, tokens=token_estimate(request.raw, 0))
