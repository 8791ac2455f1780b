"""Quality checks: each machine-checkable failure is recognised; good answers pass."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.metering.outcome import Outcome
from gateway.routing import classify
from gateway.routing.classify import judge_chat, judge_responses

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
STRUCTURED = {"text": {"format": {"type": "json_schema", "name": "c", "schema": SCHEMA}}}
TOOL = {"tools": [{"type": "function", "name": "lookup", "parameters": SCHEMA}]}


def responses(*items: dict[str, Any], **top: Any) -> Outcome:
    return Outcome(status=200, body={"status": "completed", "output": list(items), **top})


def text(t: str) -> dict[str, Any]:
    return {"type": "message", "content": [{"type": "output_text", "text": t}]}


@pytest.mark.parametrize(
    ("outcome", "request_body", "reasons"),
    [
        (Outcome(status=0, error_code="upstream_unreachable"), {}, ["upstream_error"]),
        (Outcome(status=0, error_code="upstream_timeout"), {}, ["timeout"]),
        (Outcome(status=503), {}, ["upstream_error"]),
        (Outcome(status=429), {}, ["rate_limited"]),
        (Outcome(status=400), {}, []),
        (responses(text("hi")), {}, []),
        (
            responses(text("hi"), status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
            {},
            ["incomplete"],
        ),
        (responses({"type": "message", "content": [{"type": "refusal", "refusal": "no"}]}), {}, ["refusal"]),
        (responses(text('{"city": "Paris"}')), STRUCTURED, []),
        (responses(text("Paris!")), STRUCTURED, ["invalid_json"]),
        (responses(text('{"town": "Paris"}')), STRUCTURED, ["schema_mismatch"]),
        (responses({"type": "function_call", "name": "lookup", "arguments": '{"city": "Oslo"}'}), TOOL, []),
        (responses({"type": "function_call", "name": "lookup", "arguments": '{"city": 3}'}), TOOL, ["invalid_tool_arguments"]),
        (responses({"type": "function_call", "name": "lookup", "arguments": "{oops"}), TOOL, ["invalid_tool_arguments"]),
    ],
    ids=[
        "connect", "timeout", "5xx", "429", "4xx-not-escalated", "good", "incomplete", "refusal",
        "valid-json", "invalid-json", "schema-mismatch", "good-call", "bad-args", "broken-args",
    ],
)  # fmt: skip
def test_responses(outcome: Outcome, request_body: dict[str, Any], reasons: list[str]) -> None:
    assert classify(judge_responses, outcome, request_body) == reasons


def chat(message: dict[str, Any], finish: str = "stop") -> Outcome:
    return Outcome(status=200, body={"choices": [{"message": message, "finish_reason": finish}]})


def test_chat_checks() -> None:
    fmt = {
        "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": SCHEMA}}
    }
    tools = {"tools": [{"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}]}
    call = {"tool_calls": [{"function": {"name": "lookup", "arguments": json.dumps({"city": 1})}}]}
    assert classify(judge_chat, chat({"content": "x"}, "length"), {}) == ["incomplete"]
    assert classify(judge_chat, chat({"refusal": "no", "content": None}), {}) == ["refusal"]
    assert classify(judge_chat, chat({"content": '{"city": "Rome"}'}), fmt) == []
    assert classify(judge_chat, chat({"content": "{}"}), fmt) == ["schema_mismatch"]
    assert classify(judge_chat, chat(call), tools) == ["invalid_tool_arguments"]


def test_an_unusable_schema_does_not_fail_the_answer() -> None:
    bad = {"text": {"format": {"type": "json_schema", "schema": {"type": "not-a-type"}}}}
    assert classify(judge_responses, responses(text("{}")), bad) == []
