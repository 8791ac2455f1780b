"""How an answer did, and how two answers to one request compare (pure).

An answer is read from what went to its client: a JSON body, or the event
stream (a Responses stream's terminal event holds the whole response; a Chat
stream's deltas are put back together). Its quality is the route's own
machine checks (`gateway.routing.classify`): refusal, JSON and schema
validity, tool-call arguments, cut short. Similarity is deliberately cheap —
the overlap of the two texts' words, counted with repeats (1.0: the same
words) — so comparing costs less than the call; it flags pairs to read, it
does not grade them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.routing.classify import Judge, judge_chat, judge_responses
from gateway.shapes.sse import json_object

_FAILED = frozenset({"upstream_error", "incomplete"})
_JSON_CHECKS = frozenset({"invalid_json", "schema_mismatch", "invalid_tool_arguments"})
_WORDS = re.compile(r"\w+")
MAX_COMPARED_CHARS = 64 * 1024  # similarity reads this much of each text


@dataclass(frozen=True, slots=True)
class Side:
    """One answer, as measured."""

    status: int
    ok: bool  # a complete 2xx answer
    json_valid: bool | None  # None: nothing structured to check
    refusal: bool
    output_tokens: int | None
    text: str  # the answer's text and tool calls, as one string

    @classmethod
    def failed(cls, status: int) -> Side:
        return cls(status, False, None, False, None, "")


def read(family: str, status: int, body: bytes, stream: bool, request: dict[str, Any]) -> Side:
    """An answer of the ``responses`` or ``chat`` family, as its client got it."""
    if not 200 <= status < 300:
        return Side.failed(status)
    if family == "responses":
        answer = _responses_stream(body) if stream else json_object(body)
        return _side(status, answer, request, judge_responses, _responses_text, "output_tokens")
    answer = _chat_stream(body) if stream else json_object(body)
    return _side(status, answer, request, judge_chat, _chat_text, "completion_tokens")


def similarity(a: str, b: str) -> float:
    """Words shared by the two texts, counted with repeats, over the words of either."""
    wa = Counter(_WORDS.findall(a[:MAX_COMPARED_CHARS].lower()))
    wb = Counter(_WORDS.findall(b[:MAX_COMPARED_CHARS].lower()))
    union = sum((wa | wb).values())
    return 1.0 if union == 0 else sum((wa & wb).values()) / union


def _side(
    status: int,
    answer: dict[str, Any] | None,
    request: dict[str, Any],
    judge: Judge,
    text_of: Callable[[dict[str, Any]], tuple[str, bool]],
    tokens_key: str,
) -> Side:
    if answer is None:
        return Side.failed(status)
    reasons = set(judge(answer, request))
    text, calls = text_of(answer)
    structured = _asks_structured(request) or calls
    usage = answer.get("usage")
    tokens = usage.get(tokens_key) if isinstance(usage, dict) else None
    return Side(
        status,
        not reasons & _FAILED,
        not reasons & _JSON_CHECKS if structured else None,
        "refusal" in reasons,
        tokens if isinstance(tokens, int) else None,
        text,
    )


def _asks_structured(request: dict[str, Any]) -> bool:
    text = request.get("text")
    formats = (
        text.get("format") if isinstance(text, dict) else None,
        request.get("response_format"),
    )
    return any(
        isinstance(f, dict) and f.get("type") in ("json_schema", "json_object") for f in formats
    )


def _responses_text(answer: dict[str, Any]) -> tuple[str, bool]:
    parts, calls = [], False
    for item in _dicts(answer.get("output")):
        if item.get("type") == "message":
            parts += [
                p["text"] for p in _dicts(item.get("content")) if isinstance(p.get("text"), str)
            ]
        elif item.get("type") == "function_call":
            calls = True
            parts.append(f"{item.get('name')}({item.get('arguments')})")
    return "\n".join(parts), calls


def _chat_text(answer: dict[str, Any]) -> tuple[str, bool]:
    choices = _dicts(answer.get("choices"))
    message = choices[0].get("message") if choices else None
    if not isinstance(message, dict):
        return "", False
    parts = [message["content"]] if isinstance(message.get("content"), str) else []
    calls = _dicts(message.get("tool_calls"))
    for call in calls:
        fn = call.get("function")
        if isinstance(fn, dict):
            parts.append(f"{fn.get('name')}({fn.get('arguments')})")
    return "\n".join(parts), bool(calls)


def _events(body: bytes) -> list[dict[str, Any]]:
    """The JSON ``data:`` payloads of an event stream, in order."""
    out = []
    for line in body.splitlines():
        if line.startswith(b"data:"):
            data = json_object(line[5:].strip()) if line[5:].strip() != b"[DONE]" else None
            if data is not None:
                out.append(data)
    return out


def _responses_stream(body: bytes) -> dict[str, Any] | None:
    """The response a Responses stream's terminal event carries."""
    for event in reversed(_events(body)):
        if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
            response = event.get("response")
            return response if isinstance(response, dict) else None
    return None


def _chat_stream(body: bytes) -> dict[str, Any] | None:
    """A Chat stream's first choice put back together as a ``chat.completion``."""
    content: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish, usage, seen = None, None, False
    for chunk in _events(body):
        seen = True
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in _dicts(chunk.get("choices")):
            if choice.get("index", 0) != 0:
                continue
            finish = choice.get("finish_reason") or finish
            delta = choice.get("delta")
            if isinstance(delta, dict):
                _add_delta(delta, content, refusal, calls)
    if not seen:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if refusal:
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    choice = {"index": 0, "message": message, "finish_reason": finish}
    return {"object": "chat.completion", "choices": [choice], "usage": usage}


def _add_delta(
    delta: dict[str, Any], content: list[str], refusal: list[str], calls: dict[int, dict[str, Any]]
) -> None:
    if isinstance(delta.get("content"), str):
        content.append(delta["content"])
    if isinstance(delta.get("refusal"), str):
        refusal.append(delta["refusal"])
    for part in _dicts(delta.get("tool_calls")):
        call = calls.setdefault(
            int(part.get("index", 0)),
            {"type": "function", "function": {"name": "", "arguments": ""}},
        )
        fn = part.get("function")
        if isinstance(fn, dict):
            call["function"]["name"] += fn.get("name") or ""
            call["function"]["arguments"] += fn.get("arguments") or ""


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
