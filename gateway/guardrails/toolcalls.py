"""The tool calls a model returns: counted by name (bounded), one log line each, names only.

Read from what the pipeline parsed already: a JSON answer, a Responses
stream's terminal response, and the function names the Chat tap picks out of
streamed ``tool_calls`` deltas. Arguments are never read here, so they cannot
reach a log line or a label.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter

from gateway.config.functions import FunctionAllowList

if TYPE_CHECKING:
    from gateway.metering.outcome import Outcome

log = logging.getLogger("gateway.toolcalls")

OTHER = "_other"
MAX_NAMES = 64  # distinct names a process labels by themselves beyond the allow-lists'
_RESPONSES_CALLS = frozenset({"function_call", "custom_tool_call"})


class ToolCalls:
    """``gateway_tool_calls_total{tenant,tool}``: a name a tenant's ``functions`` lists
    exactly is its own label; others take the first ``MAX_NAMES`` labels, then ``_other``."""

    def __init__(self, registry: CollectorRegistry, max_names: int = MAX_NAMES) -> None:
        self._counter = Counter(
            "gateway_tool_calls_total",
            "Tool calls models returned, by tenant and function name (bounded: names outside "
            "the tenant's exact allow-list beyond the first few are _other).",
            ["tenant", "tool"],
            registry=registry,
        )
        self._max = max_names
        self._seen: set[str] = set()

    def label(self, name: str, allowed: FunctionAllowList | None) -> str:
        if allowed is not None and name in allowed.exact:
            return name
        if name in self._seen:
            return name
        if len(self._seen) < self._max:
            self._seen.add(name)
            return name
        return OTHER

    def note(
        self,
        names: Iterable[str],
        *,
        tenant: str,
        request_id: str,
        allowed: FunctionAllowList | None,
    ) -> None:
        """Count and log each call; ``tenant`` is the bounded tenant label."""
        for name in names:
            self._counter.labels(tenant, self.label(name, allowed)).inc()
            log.info(
                "tool call",
                extra={"fields": {"tenant": tenant, "request_id": request_id, "tool": name}},
            )


def called(family: str, outcome: Outcome) -> list[str]:
    """The names of the tool calls in an attempt's answer (JSON or stream), in order."""
    if not 200 <= outcome.status < 300:
        return []
    answer = outcome.body
    facts = outcome.facts
    if answer is None and facts is not None:
        if family == "chat":
            return facts.tool_names
        answer = facts.response
    if answer is None:
        return []
    if family == "responses" or "output" in answer:  # a bridged Chat call's is a response
        return [
            item["name"]
            for item in _dicts(answer.get("output"))
            if item.get("type") in _RESPONSES_CALLS and isinstance(item.get("name"), str)
        ]
    if family == "chat":
        return [n for c in _dicts(answer.get("choices")) for n in _message_calls(c.get("message"))]
    return []


def streamed_names(payload: bytes) -> list[str]:
    """Function names a Chat chunk's ``tool_calls`` (or legacy ``function_call``) deltas
    start; argument deltas carry no name and yield nothing."""
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(chunk, dict):
        return []
    return [n for c in _dicts(chunk.get("choices")) for n in _message_calls(c.get("delta"))]


def _message_calls(message: Any) -> Iterator[str]:
    if not isinstance(message, dict):
        return
    for call in _dicts(message.get("tool_calls")):
        for kind in ("function", "custom"):
            inner = call.get(kind)
            if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                yield inner["name"]
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("name"), str):
        yield legacy["name"]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
