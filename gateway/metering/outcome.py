"""What one upstream attempt produced, and the usage it is charged for (pure).

The relay fills an :class:`Outcome` as bytes pass; :func:`measure` turns it
into the usage to price. A stream that ended without its usage (client gone,
upstream cut) is charged an estimate — the request body's bytes / 4 for the
input, one token per streamed event for the output — and marked estimated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway.metering.usage import Usage
from gateway.shapes.endpoint import Endpoint
from gateway.shapes.sse import StreamFacts

PENDING = "pending"  # a held call's ledger outcome until it is billed (`gateway.deferred`)


@dataclass(slots=True)
class Outcome:
    status: int = 0  # upstream HTTP status; 0 when no answer came
    body: dict[str, Any] | None = None  # a parsed 2xx JSON answer
    facts: StreamFacts | None = None  # what the stream tap saw
    ttft_s: float | None = None
    client_gone: bool = False
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class Measured:
    usage: Usage
    served_model: str | None
    service_tier: str | None
    response_id: str | None
    outcome: str
    estimated: bool


def measure(
    endpoint: Endpoint,
    outcome: Outcome,
    request_bytes: int,
    units: Mapping[str, int] | None = None,
    fallback: Usage | None = None,
) -> Measured:
    """What the attempt used. ``units`` are what the request itself priced (characters to
    speak) and ``fallback`` what a successful answer without usage is charged (estimated):
    both only when the answer is a success."""
    measured = _measure(endpoint, outcome, request_bytes)
    if not 0 < outcome.status < 400 or measured.outcome in _UNFINISHED:
        return measured
    usage = measured.usage
    if fallback is not None and not (usage.total_input or usage.total_output or usage.tool_calls):
        measured = replace(measured, usage=fallback, estimated=True)
    if units:
        usage = replace(measured.usage, tool_calls={**measured.usage.tool_calls, **units})
        measured = replace(measured, usage=usage)
    return measured


_UNFINISHED = ("client_gone", "cut", "failed", "upstream_error", "error")


def _measure(endpoint: Endpoint, outcome: Outcome, request_bytes: int) -> Measured:
    body, facts = outcome.body, outcome.facts
    if body is not None:
        return from_answer(endpoint, body, "completed")
    if facts is not None:
        label = _stream_label(facts, outcome)
        if facts.usage is not None:
            usage = endpoint.usage(facts.usage, facts.response)
            estimated = False
        elif facts.events and outcome.status < 400:
            usage = Usage(input_tokens=math.ceil(request_bytes / 4), output_tokens=facts.events)
            estimated = True
        else:
            usage, estimated = Usage(), False
        return Measured(usage, facts.model, facts.service_tier, facts.response_id, label, estimated)
    if outcome.client_gone:
        label = "client_gone"
    elif 0 < outcome.status < 400:
        label = "completed"  # an answer that is not JSON (audio, a file's content)
    else:
        label = "upstream_error" if outcome.status else "error"
    return Measured(Usage(), None, None, None, label, False)


def from_answer(endpoint: Endpoint, answer: dict[str, Any], status: str) -> Measured:
    """A whole answer (a JSON body, a socket's terminal event): usage as reported.

    ``status`` is the outcome when the answer does not say its own.
    """
    usage = answer.get("usage")
    return Measured(
        endpoint.usage(usage, answer) if isinstance(usage, dict) else Usage(),
        _str(answer.get("model")),
        _str(answer.get("service_tier")),
        _str(answer.get("id")),
        _str(answer.get("status")) or status,
        False,
    )


def estimated(usage: Usage, response_id: str | None) -> Measured:
    """A call cut before its usage came: what it likely used, marked as estimated."""
    return Measured(usage, None, None, response_id, "cut", True)


def _stream_label(facts: StreamFacts, outcome: Outcome) -> str:
    if facts.status:
        return facts.status
    if facts.terminal == "[DONE]":
        return "completed"
    if outcome.client_gone:
        return "client_gone"
    return "failed" if facts.error else "cut"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
