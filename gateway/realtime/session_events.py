"""What a Realtime session tells its client beyond the upstream's events, and how it reads
them: the spend event (for clients that opted in), the moderation of conversation items, PII
restoring (``pii.restore``) and the count of the functions its responses call."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from gateway.auth.callers import Caller
from gateway.config.runtime import RuntimeConfig
from gateway.errors import GatewayError
from gateway.errors.wire import realtime_event
from gateway.guardrails.moderation import input_text
from gateway.guardrails.pii.restore import SocketRestorer
from gateway.guardrails.toolcalls import ToolCalls, called
from gateway.metering.outcome import Outcome
from gateway.pipeline.meter import Call
from gateway.pricing import NANOS_PER_USD
from gateway.realtime.decision import Decision
from gateway.shapes.sse import json_object
from gateway.telemetry.labels import tenant_label

_AUDIO_DELTA = '"response.output_audio.delta"'


class Spent(Protocol):
    @property
    def session_id(self) -> str | None: ...
    @property
    def spent_nanos(self) -> int: ...
    @property
    def responses(self) -> int: ...


def spend_event(session: Spent, cost: int) -> str:
    """``gateway.session.spend``: only for clients that opted in (an unknown type to others)."""
    return orjson.dumps(
        {
            "type": "gateway.session.spend",
            "event_id": f"gw_evt_{time.monotonic_ns():x}",
            "session_id": session.session_id,
            "response_cost_usd": cost / NANOS_PER_USD,
            "session_cost_usd": session.spent_nanos / NANOS_PER_USD,
            "responses": session.responses,
        }
    ).decode()


def note_tool_calls(
    counter: ToolCalls, config: RuntimeConfig, caller: Caller, call: Call, response: dict[str, Any]
) -> None:
    """Each function a finished response called, counted and logged by name as over HTTP."""
    names = called("responses", Outcome(status=200, body=response))  # the same output items
    if names:
        tenant = tenant_label(config, caller.tenant)
        counter.note(names, tenant=tenant, request_id=call.ctx.request_id,
                     allowed=caller.policy.functions)  # fmt: skip


Moderate = Callable[[str], Awaitable[None]]  # raises the refusal (`moderation.check_text`)


async def moderated(moderate: Moderate, decision: Decision, event_id: object) -> Decision:
    """A conversation item the tenant's moderation flags is refused with an ``error`` event
    and not sent; the text checked is the item as it would go upstream (masked)."""
    event = json_object(decision.forward) if decision.forward is not None else None
    item = event.get("item") if event is not None else None
    text = input_text({"input": [item]}) if isinstance(item, dict) else ""
    if not text:
        return decision
    try:
        await moderate(text)
    except GatewayError as err:
        return Decision(
            to_client=[realtime_event(err, event_id if isinstance(event_id, str) else None)]
        )
    return decision


def restored(restorer: SocketRestorer, decision: Decision) -> Decision:
    """The session's decision with the upstream event's masked values put back for the
    client (text and transcript deltas, held back while a placeholder may be cut; what is
    held goes out by the response's end). Audio is left as it came."""
    text = decision.forward
    if text is None or _AUDIO_DELTA in text[:256]:
        return decision
    out = restorer.event(text)
    event = json_object(text)
    if event is not None and event.get("type") == "response.done":
        out += restorer.flush()
    return dataclasses.replace(decision, forward=None, to_client=out + decision.to_client)
