"""A Responses API answer as the ``chat.completion`` the client asked for.

The answer's text parts make the message's content, refusal parts its
``refusal``, function calls its ``tool_calls``; why it ended makes
``finish_reason``; its usage is restated in Chat's terms (cached input and
reasoning tokens included). Metering reads the upstream's own answer, not this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def chat_id(response_id: Any) -> str:
    """The completion's id: the response's, so either traces to the other."""
    rid = response_id if isinstance(response_id, str) else ""
    return "chatcmpl-" + rid.removeprefix("resp_")


def created(response: Mapping[str, Any]) -> int:
    """Chat says whole seconds; a response's ``created_at`` may be a float."""
    at = response.get("created_at")
    return int(at) if isinstance(at, int | float) else 0


def finish_reason(response: Mapping[str, Any], called: bool) -> str:
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if response.get("status") == "incomplete":
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if called else "stop"


def chat_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    given_in, given_out = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    given_in = given_in if isinstance(given_in, dict) else {}
    cached, written = given_in.get("cached_tokens", 0), given_in.get("cache_write_tokens", 0)
    reasoning = given_out.get("reasoning_tokens", 0) if isinstance(given_out, dict) else 0
    prompt, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": usage.get("total_tokens", prompt + completion),
        "prompt_tokens_details": {
            "cached_tokens": cached,
            "cache_write_tokens": written,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def to_chat(response: dict[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in _dicts(response.get("output")):
        if item.get("type") == "message":
            for part in _dicts(item.get("content")):
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal", "")))
        elif item.get("type") == "function_call":
            calls.append(tool_call(item))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (refusals or calls) else None,
        "refusal": "".join(refusals) if refusals else None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": finish_reason(response, bool(calls)),
        "logprobs": None,
    }
    return {
        "id": chat_id(response.get("id")),
        "object": "chat.completion",
        "created": created(response),
        "model": response.get("model", ""),
        "choices": [choice],
        "usage": chat_usage(response.get("usage")),
        "service_tier": response.get("service_tier"),
        "system_fingerprint": None,
    }


def tool_call(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": item.get("call_id"),
        "type": "function",
        "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
