"""One Realtime session's policy and metering, as decisions on events (no I/O).

The WebSocket handler feeds every frame through here and does what the
decision says. Frames the gateway has no reason to change are forwarded as
the very bytes that arrived; only ``session.update`` and ``response.create``
may be rewritten (the output cap, models named as the upstream knows them),
and only when they ask for more than the tenant may have.

Money: each response is one call of the pipeline (`gateway.pipeline.meter`):
``response.create`` reserves its cost bound before it is forwarded (the
`gateway.shapes.realtime` bound), so a strict budget holds for voice too. A
response voice activity starts runs on a bound held for it in advance
(`gateway.realtime.voice`). Every ``response.done``, whatever its status, is
priced from its usage and written to the ledger at once, and so is every
input-audio transcript, at its own model's price
(`gateway.realtime.transcription`). Responses still open when the session
ends are charged an estimate (the session's last known input, and the output
streamed so far) and marked estimated. A session keeps its model, and every
transcription model is checked like any model (`gateway.realtime.session_config`).
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.auth.callers import Caller
from gateway.config.runtime import Model, RuntimeConfig
from gateway.errors import GatewayError, PermissionDenied
from gateway.errors.wire import realtime_event
from gateway.guardrails.pii.mask import Vault
from gateway.guardrails.pii.realtime import screen_item
from gateway.guardrails.pii.restore import SocketRestorer
from gateway.guardrails.toolcalls import ToolCalls
from gateway.metering.outcome import Measured
from gateway.metering.usage import Usage
from gateway.pipeline.context import RequestContext, new_request_id
from gateway.pipeline.meter import Call, Meter
from gateway.pricing import ModelPrice
from gateway.quota.bound import Sizing
from gateway.realtime import session_events as events
from gateway.realtime.caps import apply_cap, cancel_event, cap_error, within
from gateway.realtime.decision import Decision
from gateway.realtime.estimate import cut_usage
from gateway.realtime.session_config import (
    Priced,
    check_session_models,
    is_absent,
    transcription_model,
    transcription_setting,
)
from gateway.realtime.transcription import COMPLETED, meter_transcript
from gateway.realtime.voice import VoiceStandby
from gateway.shapes.realtime import REALTIME, realtime_cap
from gateway.shapes.sse import json_object

CAP_EVENT_ID = "gw_output_cap"  # + a per-session suffix: a client cannot collide with it
_VAD, _ASR = "_vad", "_asr"  # suffixes of the gateway's other updates: voice, transcription
_OWN_UPDATES = {"": "output cap", _VAD: "voice-activity limit", _ASR: "transcription policy"}


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
        tool_calls: ToolCalls | None = None,
        moderate: events.Moderate | None = None,
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
        self._voice = VoiceStandby(lambda: self._reserve(force=False), self.cap_event_id + _VAD)
        self._transcriber: Priced | None = None  # what transcribes input audio, if anything
        self._tool_calls = tool_calls  # the functions its responses call, counted by name
        self._moderate = moderate  # the tenant's moderation of conversation items
        self._pii = Vault()  # placeholders of the session's masked items (`pii: mask`)
        pii = self.policy.pii
        self._restorer = SocketRestorer(self._pii) if pii.mode == "mask" and pii.restore else None

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
        session = self._voice.held_off({**fixed, "type": "realtime", "max_output_tokens": cap})
        update = {"type": "session.update", "event_id": self.cap_event_id, "session": session}
        return [orjson.dumps(update).decode()]

    # ------------------------------------------------------------------ client → upstream

    async def on_client(self, text: str) -> Decision:
        return await self.client_event(text)

    async def client_event(self, text: str) -> Decision:
        event = json_object(text)
        kind = event.get("type") if event is not None else None
        if event is not None and kind == "conversation.item.create":
            screened = screen_item(event, text, self._pii, self.config, self.caller)
            if self._moderate is None:
                return screened
            return await events.moderated(self._moderate, screened, event.get("event_id"))
        if event is None or kind not in ("session.update", "response.create"):
            return Decision(forward=text)
        client_event_id = event.get("event_id")
        client_event_id = client_event_id if isinstance(client_event_id, str) else None
        body_key = "session" if kind == "session.update" else "response"
        body = event.get(body_key)
        if body is not None and not isinstance(body, dict):
            return Decision(forward=text)  # malformed: the upstream answers with its error
        try:
            changed = apply_cap(body, self.cap, self.policy) if body is not None else False
            if kind == "session.update" and body is not None:
                changed = (
                    check_session_models(body, self.config, self.policy, self.model) or changed
                )
                await self._voice.asked(body)  # voice may start responses: one is reserved
            call = await self._reserve(force=False) if kind == "response.create" else None
        except GatewayError as err:
            decision = Decision(to_client=[realtime_event(err, client_event_id)])
            if err.code == "budget_exceeded" and self._close_on_budget:
                decision.close = "budget_exceeded"
            return decision
        if call is not None:
            if client_event_id is None:  # to match an error event to this reservation
                client_event_id = event["event_id"] = f"gw_{new_request_id()}"
                changed = True
            self._pending.append(_Response(call, client_event_id))
        return Decision(forward=orjson.dumps(event).decode() if changed else text)

    # ------------------------------------------------------------------ upstream → client

    async def server_event(self, text: str) -> Decision:
        decision = await self._server_event(text)
        return decision if self._restorer is None else events.restored(self._restorer, decision)

    async def _server_event(self, text: str) -> Decision:
        # Audio deltas are most of the traffic: recognised without the general dispatch.
        if '"response.output_audio.delta"' in text[:256]:
            self._count_audio(text)
            return Decision(forward=text)
        event = json_object(text)
        if event is None:
            return Decision(forward=text)
        kind = event.get("type")
        if kind == "session.created" or kind == "session.updated":
            return await self._session_seen(kind, event.get("session"), text)
        if kind == "response.created":
            return await self._created(event.get("response"), text)
        if kind == "response.output_text.delta" or kind == "response.output_audio_transcript.delta":
            self._delta(event.get("response_id"))
        elif kind == "response.done":
            decision = Decision(forward=text)
            cost = await self._done(event.get("response"))
            if self.report_spend and cost is not None:
                decision.to_client.append(events.spend_event(self, cost))
            await self._voice.keep(decision, self._close_on_budget)  # the next one's bound
            return decision
        elif kind == COMPLETED:
            await self._transcribed(event)
        elif kind == "error":
            return self._error(event.get("error"), text)
        return Decision(forward=text)

    async def _session_seen(self, kind: str, session: Any, text: str) -> Decision:
        """The session as the upstream has it: its cap, transcription and turn detection."""
        decision = Decision(forward=text)
        if kind == "session.created":
            if isinstance(session, dict) and isinstance(session.get("id"), str):
                self.session_id = session["id"]
        elif not self._cap_acknowledged:
            self._cap_acknowledged = True
            decision.forward = None  # the answer to the gateway's own cap update
        elif not within(
            session.get("max_output_tokens") if isinstance(session, dict) else None, self.cap
        ):
            # A session that lost its cap (a WebRTC browser can update it directly) gets it
            # back; the answer to the re-assertion is swallowed.
            self._cap_acknowledged = False
            decision.to_upstream.extend(self.opening_events())
        self._transcription_seen(session, decision)
        self._voice.seen(session)
        await self._voice.keep(decision, self._close_on_budget)
        return decision

    def _transcription_seen(self, session: Any, decision: Decision) -> None:
        """Input audio is transcribed by a model the tenant may use, or not at all."""
        setting = transcription_setting(session)
        if is_absent(setting):
            return
        self._transcriber = None
        if not isinstance(setting, dict):
            return
        name = setting.get("model")
        try:
            if not isinstance(name, str):
                raise PermissionDenied(
                    "The session transcribes input audio with a model the gateway cannot see.",
                    param="session.audio.input.transcription.model",
                    code="model_not_allowed",
                )
            self._transcriber = transcription_model(self.config, self.policy, name)
        except GatewayError as err:  # set around the gateway (a browser): turned off
            off = {"audio": {"input": {"transcription": None}}}
            decision.to_upstream.append(self._own_update(off, _ASR))
            decision.to_client.append(realtime_event(err, None))

    async def _transcribed(self, event: dict[str, Any]) -> None:
        model = self._transcriber[0] if self._transcriber is not None else self.model
        cost = await meter_transcript(
            self.meter, self.config, self.caller, model, event, self.session_id
        )
        self.spent_nanos += cost

    def _own_update(self, session: dict[str, Any], suffix: str) -> str:
        update = {
            "type": "session.update",
            "event_id": self.cap_event_id + suffix,
            "session": {"type": "realtime", **session},
        }
        return orjson.dumps(update).decode()

    async def _created(self, response: Any, text: str) -> Decision:
        rid = response.get("id") if isinstance(response, dict) else None
        if not isinstance(rid, str):
            return Decision(forward=text)
        assert isinstance(response, dict)
        decision = Decision(forward=text)
        held = None if self._pending else self._voice.take()
        if self._pending:
            resp = self._pending.popleft()
        elif held is not None:  # started by voice activity, on the bound held for it
            resp = _Response(held)
        else:
            # Started by the server with no bound held (turn detection the gateway has not
            # seen yet): reserve now. If it does not fit, it is
            # cancelled; it still ran until the cancel landed, so it is metered, and the
            # session ends (each new utterance would start another): only a strict budget
            # (the tenant's, its service's or a tag's) refuses.
            try:
                resp = _Response(await self._reserve(force=False))
            except GatewayError as err:
                resp = _Response(await self._reserve(force=True))
                decision.to_upstream.append(cancel_event(rid))
                decision.to_client.append(realtime_event(err, None))
                if err.code == "budget_exceeded":
                    decision.close = "budget_exceeded"
        if not within(response.get("max_output_tokens"), self.cap) and cancel_event(rid) not in (
            decision.to_upstream
        ):  # created above the cap (a browser's own response.create): its bound does not hold
            decision.to_upstream.append(cancel_event(rid))
            decision.to_client.append(realtime_event(cap_error(self.cap), None))
        resp.call.ctx.response_id = rid
        self._active[rid] = resp
        return decision

    def _error(self, error: Any, text: str) -> Decision:
        event_id = error.get("event_id") if isinstance(error, dict) else None
        if isinstance(event_id, str) and event_id.startswith(self.cap_event_id):
            # The upstream refused the gateway's own update (cap, voice, transcription).
            suffix = event_id[len(self.cap_event_id) :]
            reason = "output_cap_failed" if suffix == "" else "session_policy_failed"
            what = _OWN_UPDATES.get(suffix, "session policy")
            err = GatewayError(
                f"The gateway could not apply the tenant's {what} to this session.", code=reason
            )
            return Decision(to_client=[realtime_event(err, None)], close=reason)
        for resp in self._pending:
            if resp.event_id is not None and resp.event_id == event_id:
                self._pending.remove(resp)  # refused upstream: nothing ran
                self._settle(resp, Usage(), status=400, outcome="failed", estimated=False)
                break
        return Decision(forward=text)

    def _count_audio(self, text: str) -> None:
        event = json_object(text)
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
        if self._tool_calls is not None:
            events.note_tool_calls(self._tool_calls, self.config, self.caller, resp.call, response)
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

    def refusal(self, err: GatewayError) -> str:
        return realtime_event(err, None)

    # ------------------------------------------------------------------ end

    def close(self) -> None:
        """Charge what is still open: an estimate, marked so."""
        for resp in [*self._pending, *self._active.values()]:
            usage = cut_usage(self._last_input, resp.text_deltas, resp.audio_bytes)
            self._settle(resp, usage, status=0, outcome="cut", estimated=True)
        self._pending.clear()
        self._active.clear()
        self._voice.release()

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
