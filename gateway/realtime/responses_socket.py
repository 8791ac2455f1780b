"""Responses WebSocket mode (``GET /v1/responses``): each ``response.create`` as a metered call.

A socket carries many responses. Each ``response.create`` goes through what
``POST /v1/responses`` does: the model (or route: its first rung, since a
socket answer cannot be taken back to escalate) must be allowed, a
``previous_response_id`` must be the tenant's own, the tenant's policy and
output cap rewrite the body, and the call's cost bound is reserved. Refusals
are ``error`` events in this mode's nested shape; the socket stays open.
Each terminal event (``response.completed``/``.incomplete``/``.failed``) is
priced and written to the ledger as it arrives. Lanes (``stream_id``) run
FIFO, so a lane's next ``response.created`` belongs to its oldest create.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.config.runtime import Model, RuntimeConfig
from gateway.errors import BadRequest, GatewayError
from gateway.metering.outcome import Measured
from gateway.metering.usage import Usage
from gateway.policy import check_requested
from gateway.quota.ticket import Ticket
from gateway.realtime.session import Decision
from gateway.routing import NO_FEATURES, plan
from gateway.shapes.adapters import RESPONSES
from gateway.telemetry.access_log import RequestContext

_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


@dataclass(slots=True)
class _Call:
    ticket: Ticket
    ctx: RequestContext
    model: Model
    request_bytes: int
    events: int = 0


class ResponsesSocketSession:
    def __init__(self, services: Any, caller: Any, new_request_id: Any, upstream: str) -> None:
        self.services = services
        self.upstream = upstream
        self.config: RuntimeConfig = services.config
        self.caller = caller
        self.tenant: str = caller.principal.tenant
        self._new_id = new_request_id
        self._pending: dict[str | None, deque[_Call]] = {}  # by lane
        self._active: dict[str, _Call] = {}
        self._last: dict[str | None, _Call] = {}  # each lane's latest call
        self._steers: deque[Ticket] = deque()  # reserved for the successors steering starts
        self.spent_nanos = 0
        self.session_id: str | None = None

    def opening_events(self) -> list[str]:
        return []

    async def on_client(self, text: str) -> Decision:
        """Only ``response.create`` and ``response.steer`` go upstream.

        Anything else is refused here, so an upstream ``error`` can only be the
        refusal of a create, and is matched to the right reservation.
        """
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return Decision(to_client=[_error_event(BadRequest("Invalid JSON."), None)])
        kind = event.get("type") if isinstance(event, dict) else None
        lane = event.get("stream_id") if isinstance(event, dict) else None
        lane = lane if isinstance(lane, str) else None
        try:
            if kind == "response.create":
                call, forward = await self._admit(event)
                self._pending.setdefault(lane, deque()).append(call)
                return Decision(forward=forward)
            if kind == "response.steer":
                self._steers.append(await self._reserve_successor())
                return Decision(forward=text)
            raise BadRequest(
                f"Unsupported event type {kind!r} on this socket.",
                param="type",
                code="unknown_event",
            )
        except GatewayError as err:
            return Decision(to_client=[_error_event(err, lane)])

    async def _reserve_successor(self) -> Ticket:
        """A steer may start a successor response: its bound is reserved before it is sent."""
        last = next(reversed(self._last.values()), None)
        if last is None:
            raise BadRequest("Nothing to steer on this socket yet.", code="response_not_found")
        return await self._readmit(last.ticket, force=False)

    async def _readmit(self, old: Ticket, *, force: bool) -> Ticket:
        """Another response like ``old``'s: the same model, bound and token estimate."""
        ticket: Ticket = await self.services.quota.admit(
            self.tenant, old.model, self.caller.policy, bound=old.bound, tokens=old.tokens,
            now=time.time(), force=force,
        )  # fmt: skip
        return ticket

    async def _admit(self, event: dict[str, Any]) -> tuple[_Call, str]:
        services, config, caller = self.services, self.config, self.caller
        body = {k: v for k, v in event.items() if k != "type"}
        req = RESPONSES.parse({**body, "stream": True})
        check_requested(config, caller.policy, req.model)
        prev = req.previous_response_id
        if prev is not None and not await services.ownership.owned_by(prev, self.tenant):
            raise BadRequest(
                f"Previous response with id '{prev}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        model = plan(config, req.model, NO_FEATURES, self._new_id()).ladder[0]
        if model.upstream != self.upstream:
            raise BadRequest(
                f"`{model.name}` is served by another upstream than this socket's; "
                "use POST /v1/responses for it.",
                param="model",
                code="model_not_available_on_socket",
            )
        applied = RESPONSES.apply_policy(body, caller.policy, model, self.tenant, True)
        body["model"] = model.upstream_model
        raw = orjson.dumps(body)
        request_id = self._new_id()
        ticket = await services.admit(
            config, caller, model, raw, body, applied, (request_id, 1)
        )  # as POST does
        ctx = self._context(req.model, request_id)
        forward = orjson.dumps({"type": "response.create", **body}).decode()
        return _Call(ticket, ctx, model, len(raw)), forward

    async def server_event(self, text: str) -> Decision:
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
            rid = response.get("id")
            queue = self._pending.get(lane)
            if isinstance(rid, str) and queue:
                call = self._active[rid] = self._last[lane] = queue.popleft()
            elif isinstance(rid, str) and lane in self._last:
                # A successor the server started itself (steering): billed like the rest.
                call = self._active[rid] = await self._successor(self._last[lane])
            else:
                return Decision(forward=text)
            call.ctx.response_id = rid
            self.services.ownership.record(rid, self.tenant)
        elif kind in _TERMINAL and isinstance(response, dict):
            rid = response.get("id")
            done = self._active.pop(rid, None) if isinstance(rid, str) else None
            if done is not None:
                usage = response.get("usage")
                measured = Measured(
                    RESPONSES.usage(usage, response) if isinstance(usage, dict) else Usage(),
                    _str(response.get("model")),
                    _str(response.get("service_tier")),
                    done.ctx.response_id,
                    _str(response.get("status")) or kind.removeprefix("response."),
                    False,
                )
                self._settle(done, measured, 200)
        elif kind == "error":
            queue = self._pending.get(lane)
            if queue:  # the oldest create of that lane was refused upstream
                call = queue.popleft()
                status = event.get("status")
                failed = Measured(Usage(), None, None, None, "failed", False)
                self._settle(call, failed, status if isinstance(status, int) else 400)
        return Decision(forward=text)

    async def _successor(self, previous: _Call) -> _Call:
        if self._steers:
            ticket = self._steers.popleft()
        else:  # started without a steer of ours (cannot be refused now): billed anyway
            ticket = await self._readmit(previous.ticket, force=True)
        ctx = self._context(previous.ctx.model)
        return _Call(ticket, ctx, previous.model, previous.request_bytes)

    def _context(self, model: str | None, request_id: str | None = None) -> RequestContext:
        return RequestContext(
            request_id=request_id or self._new_id(),
            method="GET",
            path="/v1/responses",
            started=time.perf_counter(),
            wall_started=time.time(),
            endpoint="responses.websocket",
            tenant=self.tenant,
            subject=self.caller.principal.subject,
            model=model,
            stream=True,
        )

    def _count(self, text: str) -> Decision:
        # For the estimate if the socket dies: deltas carry no response id, so the
        # oldest open call (the only one, unless lanes run side by side) gets them.
        call = next(iter(self._active.values()), None)
        if call is not None:
            call.events += 1
        return Decision(forward=text)

    def close(self) -> None:
        """Calls still open when the socket ends: charged an estimate, marked so."""
        calls = [*self._active.values(), *(c for q in self._pending.values() for c in q)]
        for call in calls:
            usage = Usage(input_tokens=math.ceil(call.request_bytes / 4), output_tokens=call.events)
            measured = Measured(usage, None, None, call.ctx.response_id, "cut", True)
            self._settle(call, measured, 0)
        now = time.time()
        for ticket in self._steers:  # steers that started no successor: nothing ran
            self.services.quota.settle(ticket, 0, 0, now)
        self._active.clear()
        self._pending.clear()
        self._steers.clear()

    def _settle(self, call: _Call, measured: Measured, status: int) -> None:
        self.spent_nanos += self.services.recorder.finish(
            call.ctx,
            call.ticket,
            measured,
            config=self.config,
            upstream_model=call.model.upstream_model,
            status=status,
        )


def _error_event(err: GatewayError, lane: str | None) -> str:
    """This mode's nested ``error`` event, with the equivalent HTTP status."""
    event: dict[str, Any] = {
        "type": "error",
        "error": {"type": err.type, "code": err.code, "message": err.message, "param": err.param},
        "status": err.status,
    }
    if lane is not None:
        event["stream_id"] = lane
    return orjson.dumps(event).decode()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
