"""One Realtime session's policy and metering, as decisions on events (no I/O).

The WebSocket handler feeds every frame through here and does what the
decision says. Frames the gateway has no reason to change are forwarded as
the very bytes that arrived; only ``session.update`` and ``response.create``
may be rewritten (the output cap), and only when they ask for more than the
tenant may have.

Money: each response is one call of the pipeline (`gateway.pipeline.meter`):
``response.create`` reserves its cost bound before it is forwarded (the
`gateway.shapes.realtime` bound), so a strict budget holds for voice too. A
response the server starts by itself (voice activity detection) is reserved
when ``response.created`` announces it; if it does not fit, the
gateway cancels it upstream. Every ``response.done``, whatever its status, is
priced from its usage and written to the ledger at once. Responses still open
when the session ends are charged an estimate (the session's last known input,
and the output streamed so far) and marked estimated.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.auth.callers import Caller
from gateway.config.runtime import Model, Policy, RuntimeConfig
from gateway.errors import BadRequest, GatewayError
from gateway.errors.wire import realtime_event
from gateway.metering.outcome import Measured
from gateway.metering.usage import Usage
from gateway.pipeline.context import RequestContext, new_request_id
from gateway.pipeline.meter import Call, Meter
from gateway.policy.request import hosted_tools
from gateway.pricing import NANOS_PER_USD, ModelPrice
from gateway.quota.bound import Sizing
from gateway.realtime.decision import Decision
from gateway.shapes.realtime import REALTIME, realtime_cap

# Estimates for a response cut before its usage came: PCM16 mono 24 kHz, and the
# audio token rates the per-minute audio prices imply (10 in, 20 out per second).
PCM_BYTES_PER_S = 48_000
AUDIO_OUTPUT_TOKENS_PER_S = 20
CAP_EVENT_ID = "gw_output_cap"  # + a per-session suffix: a client cannot collide with it


@dataclass(slots=True)
class _Response:
    call: Call
    event_id: str | None = None
    text_deltas: int = 0
    audio_bytes: int = 0


class RealtimeSession:
    def __init__(
        self,
        meter: Meter,
        config: RuntimeConfig,
        caller: Caller,
        model: Model,
        price: ModelPrice | None,
        *,
        report_spend: bool = False,
        fixed_session: dict[str, Any] | None = None,
        observer: bool = False,
    ) -> None:
        self.meter = meter
        self.config = config
        self.caller = caller
        self.policy = caller.policy
        self.model = model
        self.report_spend = report_spend
        self._fixed_session = fixed_session or {}
        # A watched WebRTC call has no client to tell: out of budget ends it.
        self._close_on_budget = observer or self.policy.realtime.over_budget == "close"
        self.cap = realtime_cap(self.policy, model)
        applied = REALTIME.apply_policy({}, self.policy, model, caller.tenant, True)
        self._bound = (
            0
            if price is None
            else REALTIME.bound(Sizing(b"", {}, model, price, applied, config.pricing))
        )
        self.session_id: str | None = None
        self.spent_nanos = 0
        self.responses = 0
        self._pending: deque[_Response] = deque()  # forwarded response.create, not yet created
        self._active: dict[str, _Response] = {}
        self._cap_acknowledged = False
        self.cap_event_id = f"{CAP_EVENT_ID}_{secrets.token_hex(6)}"
        self._last_input = Usage()

    # ------------------------------------------------------------------ session start

    def opening_events(self) -> list[str]:
        """Sent upstream before any client frame: the session's output cap.

        The API's default is no cap at all ("inf"), which would make every
        response the server starts by itself unbounded. A session opened with a
        client secret also gets the config fixed when the secret was minted.
        """
        fixed = {k: v for k, v in self._fixed_session.items() if k not in ("model", "type")}
        asked = fixed.get("max_output_tokens")
        cap = min(asked, self.cap) if isinstance(asked, int) and asked > 0 else self.cap
        update = {
            "type": "session.update",
            "event_id": self.cap_event_id,
            "session": {**fixed, "type": "realtime", "max_output_tokens": cap},
        }
        return [orjson.dumps(update).decode()]

    # ------------------------------------------------------------------ client → upstream

    async def on_client(self, text: str) -> Decision:
        return await self.client_event(text)

    async def client_event(self, text: str) -> Decision:
        event = _parse(text)
        kind = event.get("type") if event is not None else None
        if event is None or kind not in ("session.update", "response.create"):
            return Decision(forward=text)
        client_event_id = event.get("event_id")
        client_event_id = client_event_id if isinstance(client_event_id, str) else None
        body_key = "session" if kind == "session.update" else "response"
        body = event.get(body_key)
        if body is not None and not isinstance(body, dict):
            return Decision(forward=text)  # malformed: the upstream answers with its error
        try:
            changed = self._apply_cap(body) if body is not None else False
        except GatewayError as err:
            return Decision(to_client=[realtime_event(err, client_event_id)])
        if kind == "session.update":
            return Decision(forward=orjson.dumps(event).decode() if changed else text)
        try:
            call = await self._reserve(force=False)
        except GatewayError as err:
            decision = Decision(to_client=[realtime_event(err, client_event_id)])
            if err.code == "budget_exceeded" and self._close_on_budget:
                decision.close = "budget_exceeded"
            return decision
        if client_event_id is None:  # to match an error event to this reservation
            client_event_id = event["event_id"] = f"gw_{new_request_id()}"
            changed = True
        self._pending.append(_Response(call, client_event_id))
        return Decision(forward=orjson.dumps(event).decode() if changed else text)

    def _apply_cap(self, body: dict[str, Any]) -> bool:
        return apply_cap(body, self.cap, self.policy)

    # ------------------------------------------------------------------ upstream → client

    async def server_event(self, text: str) -> Decision:
        # Audio deltas are most of the traffic: recognised without the general dispatch.
        if '"response.output_audio.delta"' in text[:256]:
            self._count_audio(text)
            return Decision(forward=text)
        event = _parse(text)
        if event is None:
            return Decision(forward=text)
        kind = event.get("type")
        if kind == "session.created":
            session = event.get("session")
            if isinstance(session, dict) and isinstance(session.get("id"), str):
                self.session_id = session["id"]
        elif kind == "session.updated" and not self._cap_acknowledged:
            self._cap_acknowledged = True
            return Decision()  # the answer to the gateway's own cap update
        elif kind == "session.updated":
            return self._check_session_cap(event.get("session"), text)
        elif kind == "response.created":
            return await self._created(event.get("response"), text)
        elif (
            kind == "response.output_text.delta" or kind == "response.output_audio_transcript.delta"
        ):
            self._delta(event.get("response_id"))
        elif kind == "response.done":
            cost = await self._done(event.get("response"))
            if self.report_spend and cost is not None:
                return Decision(forward=text, to_client=[self._spend_event(cost)])
        elif kind == "error":
            return self._error(event.get("error"), text)
        return Decision(forward=text)

    def _check_session_cap(self, session: Any, text: str) -> Decision:
        """A session that lost its cap (a WebRTC browser can update it directly) gets it back."""
        asked = session.get("max_output_tokens") if isinstance(session, dict) else None
        if _within(asked, self.cap):
            return Decision(forward=text)
        self._cap_acknowledged = False  # swallow the answer to the re-assertion
        return Decision(forward=text, to_upstream=self.opening_events())

    async def _created(self, response: Any, text: str) -> Decision:
        rid = response.get("id") if isinstance(response, dict) else None
        if not isinstance(rid, str):
            return Decision(forward=text)
        assert isinstance(response, dict)
        decision = Decision(forward=text)
        if self._pending:
            resp = self._pending.popleft()
        else:
            # Started by the server (voice activity): reserve now. If it does not fit, it is
            # cancelled; it still ran until the cancel landed, so it is metered, and in strict
            # mode the session ends (each new utterance would start another).
            try:
                resp = _Response(await self._reserve(force=False))
            except GatewayError as err:
                resp = _Response(await self._reserve(force=True))
                decision.to_upstream.append(_cancel(rid))
                decision.to_client.append(realtime_event(err, None))
                strict = self.policy.budget_mode == "strict"
                if err.code == "budget_exceeded" and (self._close_on_budget or strict):
                    decision.close = "budget_exceeded"
        if not _within(response.get("max_output_tokens"), self.cap) and _cancel(rid) not in (
            decision.to_upstream
        ):  # created above the cap (a browser's own response.create): its bound does not hold
            decision.to_upstream.append(_cancel(rid))
            decision.to_client.append(realtime_event(_cap_error(self.cap), None))
        resp.call.ctx.response_id = rid
        self._active[rid] = resp
        return decision

    def _error(self, error: Any, text: str) -> Decision:
        event_id = error.get("event_id") if isinstance(error, dict) else None
        if event_id == self.cap_event_id:
            err = GatewayError(
                "The gateway could not apply the tenant's output cap to this session.",
                code="output_cap_failed",
            )
            return Decision(to_client=[realtime_event(err, None)], close="output_cap_failed")
        for resp in self._pending:
            if resp.event_id is not None and resp.event_id == event_id:
                self._pending.remove(resp)  # refused upstream: nothing ran
                self._settle(resp, Usage(), status=400, outcome="failed", estimated=False)
                break
        return Decision(forward=text)

    def _count_audio(self, text: str) -> None:
        event = _parse(text)
        if event is None:
            return
        resp = self._active.get(event.get("response_id"))  # type: ignore[arg-type]
        delta = event.get("delta")
        if resp is not None and isinstance(delta, str):
            resp.audio_bytes += len(delta) * 3 // 4

    def _delta(self, response_id: Any) -> None:
        resp = self._active.get(response_id) if isinstance(response_id, str) else None
        if resp is not None:
            resp.text_deltas += 1

    async def _done(self, response: Any) -> int | None:
        if not isinstance(response, dict):
            return None
        rid = response.get("id")
        resp = self._active.pop(rid, None) if isinstance(rid, str) else None
        if resp is None:  # never announced: still billed
            resp = _Response(await self._reserve(force=True))
            resp.call.ctx.response_id = rid if isinstance(rid, str) else None
        raw_usage = response.get("usage")
        usage = REALTIME.usage(raw_usage, response) if isinstance(raw_usage, dict) else Usage()
        self._last_input = usage
        status = response.get("status")
        return self._settle(
            resp,
            usage,
            status=200,
            outcome=status if isinstance(status, str) else "completed",
            estimated=False,
        )

    # ------------------------------------------------------------------ end

    def close(self) -> None:
        """Charge what is still open: an estimate, marked so."""
        last = self._last_input
        for resp in [*self._pending, *self._active.values()]:
            seconds = resp.audio_bytes / PCM_BYTES_PER_S
            usage = Usage(
                input_tokens=last.input_tokens + last.cached_input_tokens,
                audio_input_tokens=last.audio_input_tokens + last.cached_audio_input_tokens,
                image_input_tokens=last.image_input_tokens,
                output_tokens=resp.text_deltas,
                audio_output_tokens=math.ceil(seconds * AUDIO_OUTPUT_TOKENS_PER_S),
            )
            self._settle(resp, usage, status=0, outcome="cut", estimated=True)
        self._pending.clear()
        self._active.clear()

    # ------------------------------------------------------------------ money

    async def _reserve(self, *, force: bool) -> Call:
        ctx = RequestContext.start("GET", "/v1/realtime", "realtime")
        ctx.tenant, ctx.subject = self.caller.tenant, self.caller.principal.subject
        ctx.model, ctx.stream = self.model.name, True
        return await self.meter.admit(
            ctx,
            self.caller,
            self.config,
            self.model,
            bound=self._bound,
            tokens=self.cap,
            force=force,
        )

    def _settle(
        self, resp: _Response, usage: Usage, *, status: int, outcome: str, estimated: bool
    ) -> int:
        call = resp.call
        measured = Measured(usage, None, None, call.ctx.response_id, outcome, estimated)
        cost = call.settle(measured, status, session_id=self.session_id)
        self.spent_nanos += cost
        self.responses += 1
        return cost

    def _spend_event(self, cost: int) -> str:
        """``gateway.session.spend``: only for clients that opted in (an unknown type to others)."""
        return orjson.dumps(
            {
                "type": "gateway.session.spend",
                "event_id": f"gw_evt_{time.monotonic_ns():x}",
                "session_id": self.session_id,
                "response_cost_usd": cost / NANOS_PER_USD,
                "session_cost_usd": self.spent_nanos / NANOS_PER_USD,
                "responses": self.responses,
            }
        ).decode()


def _parse(text: str) -> dict[str, Any] | None:
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def apply_cap(body: dict[str, Any], cap: int, policy: Policy) -> bool:
    """The tenant's tool allow-list (``mcp`` is a hosted tool), then its output cap: a
    ``max_output_tokens`` above it is clamped (or refused, per policy). True if changed."""
    hosted_tools(body.get("tools"), policy)
    if "max_output_tokens" not in body:
        return False  # the session's cap applies
    asked = body["max_output_tokens"]
    if asked is not None and _within(asked, cap):
        return False
    if policy.output_cap_mode == "reject":
        raise _cap_error(cap, asked)
    body["max_output_tokens"] = cap  # "inf", null, floats, anything above: the cap
    return True


def _within(asked: Any, cap: int) -> bool:
    """An explicit cap the tenant's cap allows (a missing one inherits the session's)."""
    return asked is None or (
        isinstance(asked, int) and not isinstance(asked, bool) and 1 <= asked <= cap
    )


def _cap_error(cap: int, asked: Any = None) -> GatewayError:
    return BadRequest(
        f"max_output_tokens {asked if asked is not None else 'above the cap'} is not allowed: "
        f"this tenant's cap is {cap}.",
        param="max_output_tokens",
        code="output_cap_exceeded",
    )


def _cancel(response_id: str) -> str:
    return orjson.dumps({"type": "response.cancel", "response_id": response_id}).decode()
