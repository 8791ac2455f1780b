"""Reading an answer as its client got it (JSON or stream), and comparing two answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.shadow.compare import Side, read, similarity

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
STRUCTURED: dict[str, Any] = {"text": {"format": {"type": "json_schema", "schema": SCHEMA}}}
CHAT_STRUCTURED: dict[str, Any] = {
    "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": SCHEMA}}
}


def response(*content: dict[str, Any], status: str = "completed", **top: Any) -> dict[str, Any]:
    message = {"type": "message", "content": list(content)}
    return {"status": status, "output": [message], "usage": {"output_tokens": 5}, **top}


def said(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text}


def sse(*events: dict[str, Any], done: bool = False) -> bytes:
    out = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def test_a_responses_answer_is_ok_with_its_text_and_output_tokens() -> None:
    side = read("responses", 200, orjson.dumps(response(said("Hello there"))), False, {})
    assert side == Side(200, True, None, False, 5, "Hello there")


def test_a_responses_stream_is_read_from_its_terminal_event() -> None:
    body = sse(
        {"type": "response.created", "response": {"id": "r"}},
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.completed", "response": response(said("Hello"))},
    )
    assert read("responses", 200, body, True, {}).text == "Hello"
    cut = sse({"type": "response.created", "response": {"id": "r"}})
    assert read("responses", 200, cut, True, {}) == Side.failed(200), "no terminal event"


def test_an_answer_cut_at_its_output_cap_is_not_ok() -> None:
    details = {"reason": "max_output_tokens"}
    cut = response(said("Hel"), status="incomplete", incomplete_details=details)
    assert not read("responses", 200, orjson.dumps(cut), False, {}).ok


def test_an_error_status_is_a_failed_side_whatever_its_body() -> None:
    assert read("responses", 500, b'{"error": {}}', False, {}) == Side.failed(500)
    assert read("chat", 200, b"not json", False, {}) == Side.failed(200)


def test_refusals_are_seen_in_both_families() -> None:
    refused = response({"type": "refusal", "refusal": "No."})
    assert read("responses", 200, orjson.dumps(refused), False, {}).refusal
    chat = {"choices": [{"message": {"content": None, "refusal": "No."}, "finish_reason": "stop"}]}
    assert read("chat", 200, orjson.dumps(chat), False, {}).refusal
    stream = sse({"choices": [{"index": 0, "delta": {"refusal": "No."}}]}, done=True)
    assert read("chat", 200, stream, True, {}).refusal


@pytest.mark.parametrize(("text", "valid"), [('{"city": "Oslo"}', True), ('{"city": ', False),
                                             ('{"town": "Oslo"}', False)])  # fmt: skip
def test_structured_output_is_checked_against_the_requests_own_schema(
    text: str, valid: bool
) -> None:
    answer = orjson.dumps(response(said(text)))
    assert read("responses", 200, answer, False, STRUCTURED).json_valid is valid
    chat = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}
    assert read("chat", 200, orjson.dumps(chat), False, CHAT_STRUCTURED).json_valid is valid


def test_a_chat_stream_is_put_back_together_with_its_tool_calls_and_usage() -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}
    body = sse(
        {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
            {"index": 0, "id": "c", "function": {"name": "lookup", "arguments": '{"ci'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"completion_tokens": 9}},
        done=True,
    )  # fmt: skip
    side = read("chat", 200, body, True, {"tools": [tool]})
    assert side.text == 'lookup({"city": "Oslo"})'
    assert (side.ok, side.json_valid, side.output_tokens) == (True, True, 9)
    broken = body.replace(b'ty\\": \\"Oslo\\"}', b"ty")
    assert broken != body
    assert read("chat", 200, broken, True, {"tools": [tool]}).json_valid is False


def test_a_chat_stream_cut_at_its_length_is_not_ok() -> None:
    body = sse({"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": "length"}]})
    side = read("chat", 200, body, True, {})
    assert (side.ok, side.text) == (False, "Hel")


def test_similarity_counts_shared_words_with_repeats() -> None:
    assert similarity("The cat sat", "the CAT sat.") == 1.0
    assert similarity("a a b", "a b b") == pytest.approx(2 / 4)
    assert similarity("", "") == 1.0
    assert similarity("yes", "") == 0.0
    assert similarity("x " * 100_000, "x") < 0.001, "long texts are compared on their start"
