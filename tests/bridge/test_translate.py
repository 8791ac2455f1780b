"""The bridge's pure translators: Chat request -> Responses request, Responses answer and
events -> chat completion and chunks (checked against the official SDK's types)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import ValidationError

from gateway.bridge.chat_to_responses import check, to_responses
from gateway.bridge.responses_to_chat import to_chat
from gateway.bridge.stream import BridgeTap
from gateway.config import compile_config, parse_config
from gateway.config.model import RouteConfig
from gateway.errors import BadRequest
from gateway.explain import explain

USER = {"role": "user", "content": "hi"}


def test_every_mapped_field_lands_where_the_responses_api_reads_it() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "rules"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/i.png", "detail": "low"}},
                    {"type": "file", "file": {"file_id": "file_1"}},
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "f", "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_object"},
        "max_tokens": 50,
        "max_completion_tokens": 60,
        "temperature": 0.2,
        "top_p": 0.9,
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
        "n": 1,
        "store": False,
        "metadata": {"k": "v"},
        "user": "u1",
        "parallel_tool_calls": False,
        "reasoning_effort": "low",
        "service_tier": "flex",
        "verbosity": "low",
    }
    check(body)
    assert to_responses(body) == {
        "model": "m",
        "input": [
            {"role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "https://x/i.png", "detail": "low"},
                    {"type": "input_file", "file_id": "file_1"},
                ],
            },
        ],
        "tools": [{"type": "function", "name": "f", "strict": True}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "max_output_tokens": 60,  # max_completion_tokens wins, as on the Chat API
        "temperature": 0.2,
        "top_p": 0.9,
        "stream": True,
        "stream_options": {"include_obfuscation": False},
        "store": False,
        "metadata": {"k": "v"},
        "user": "u1",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "low"},
        "service_tier": "flex",
    }


def test_a_json_schema_format_is_carried_whole() -> None:
    schema = {"name": "S", "schema": {"type": "object"}, "strict": True, "description": "d"}
    body = {"messages": [USER], "response_format": {"type": "json_schema", "json_schema": schema}}
    assert to_responses(body)["text"] == {"format": {"type": "json_schema", **schema}}


def test_a_tool_is_not_strict_unless_asked_since_the_responses_default_is_strict() -> None:
    body = {"messages": [USER], "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert to_responses(body)["tools"] == [{"type": "function", "name": "f", "strict": False}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 3}, "n"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"something_new": 1}, "something_new"),
        ({"stream_options": {"other": True}}, "stream_options.other"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0]",
        ),
        ({"messages": [{"role": "assistant", "refusal": "no"}]}, "messages[0].refusal"),
        ({"tools": [{"type": "custom", "custom": {"name": "c"}}]}, "tools[0]"),
        ({"tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
        ({"response_format": {"type": "grammar"}}, "response_format"),
    ],
)
def test_what_does_not_translate_is_refused_naming_the_field(
    body: dict[str, Any], param: str
) -> None:
    full = {"model": "m", "messages": [USER], **body}
    with pytest.raises(BadRequest) as refused:
        check(full)
        to_responses(full)
    assert refused.value.param == param


def test_default_values_of_untranslated_fields_are_accepted() -> None:
    check(
        {
            "model": "m",
            "messages": [USER],
            "n": 1,
            "logprobs": False,
            "seed": None,
            "frequency_penalty": 0,
            "presence_penalty": 0,
            "modalities": ["text"],
        }
    )


def _response(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "resp_abc",
        "object": "response",
        "created_at": 1700000000,
        "model": "gpt-5-mini",
        "status": "completed",
        "incomplete_details": None,
        "service_tier": "default",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "Hel"},
                    {"type": "output_text", "text": "lo"},
                ],
            },
        ],
        "usage": {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 40},
            "output_tokens": 30,
            "output_tokens_details": {"reasoning_tokens": 20},
            "total_tokens": 130,
        },
    }
    return {**base, **over}


def test_an_answer_becomes_a_chat_completion_with_usage_in_chat_terms() -> None:
    done = ChatCompletion.model_validate(to_chat(_response()))
    assert done.id == "chatcmpl-abc"
    assert (done.created, done.model, done.service_tier) == (1700000000, "gpt-5-mini", "default")
    assert done.choices[0].message.content == "Hello"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (100, 30)
    assert done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == 40
    assert done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens == 20


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
def test_an_incomplete_answer_says_why_it_ended(reason: str, finish: str) -> None:
    answer = _response(status="incomplete", incomplete_details={"reason": reason})
    assert to_chat(answer)["choices"][0]["finish_reason"] == finish


def test_function_calls_and_refusals_map_to_their_message_fields() -> None:
    call = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    done = ChatCompletion.model_validate(to_chat(_response(output=[call])))
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.choices[0].message.content is None
    calls = done.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].id == "call_1"
    refusal = {"type": "message", "content": [{"type": "refusal", "refusal": "No."}]}
    refused = ChatCompletion.model_validate(to_chat(_response(output=[refusal])))
    assert (refused.choices[0].message.content, refused.choices[0].message.refusal) == (None, "No.")


def _events(*events: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


CREATED = {
    "type": "response.created",
    "response": {"id": "resp_s", "created_at": 5.7, "model": "m"},
}


def _chunks(out: bytes) -> list[Any]:
    lines = [line for line in out.split(b"\n\n") if line]
    assert lines[-1] == b"data: [DONE]"
    return [ChatCompletionChunk.model_validate_json(line[6:]) for line in lines[:-1]]


@pytest.mark.parametrize("piece", [1, 7, 10_000])
def test_a_stream_becomes_chat_chunks_however_it_is_cut(piece: int) -> None:
    done = _response(output=[])
    stream = _events(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "Hel"},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "lo"},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"type": "function_call", "call_id": "call_9", "name": "f"},
        },
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{}"},
        {"type": "response.completed", "response": done},
    )
    tap = BridgeTap(strip_usage=False)
    out = b"".join(tap.filter(stream[i : i + piece]) for i in range(0, len(stream), piece))
    chunks = _chunks(out)
    assert {(c.id, c.created) for c in chunks} == {("chatcmpl-s", 5)}
    assert out.count(b'"usage":null') == len(chunks) - 1, "null on all but the usage chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    started, args = chunks[3].choices[0].delta.tool_calls, chunks[4].choices[0].delta.tool_calls
    assert started is not None
    assert args is not None
    assert (started[0].index, started[0].id, started[0].function.name) == (0, "call_9", "f")
    assert (args[0].index, args[0].id, args[0].function.arguments) == (0, None, "{}")
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 30
    assert tap.facts.terminal == "response.completed"
    assert tap.facts.usage == done["usage"]
    assert tap.facts.tool_names == ["f"]


def test_a_stream_not_asked_for_usage_ends_without_it() -> None:
    stream = _events(
        CREATED,
        {"type": "response.refusal.delta", "output_index": 0, "delta": "No."},
        {
            "type": "response.incomplete",
            "response": _response(
                status="incomplete", incomplete_details={"reason": "max_output_tokens"}
            ),
        },
    )
    chunks = _chunks(BridgeTap(strip_usage=True).filter(stream))
    assert chunks[1].choices[0].delta.refusal == "No."
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(c.usage is None for c in chunks)


def test_an_error_event_is_a_chat_error_and_no_done() -> None:
    failed = {"type": "error", "message": "boom", "code": "server_error", "param": None}
    out = BridgeTap(strip_usage=True).filter(_events(CREATED, failed))
    last = out.split(b"\n\n")[-2]
    assert orjson.loads(last[6:]) == {
        "error": {"message": "boom", "type": "server_error", "param": None, "code": "server_error"}
    }
    assert b"[DONE]" not in out


def test_a_bridged_route_cannot_repair_json_since_repair_amends_chat_answers() -> None:
    RouteConfig(ladder=["m"], chat_via_responses=True)  # escalate, the default, is fine
    with pytest.raises(ValidationError, match="repair is not available with chat_via_responses"):
        RouteConfig(ladder=["m"], chat_via_responses=True, on_invalid_json=["repair"])


def test_route_explain_says_a_route_is_bridged() -> None:
    config = compile_config(
        parse_config(
            """
models: {small: {}}
routes:
  bridged: {ladder: [small], chat_via_responses: true}
  plain: {ladder: [small]}
tenants: {t: {models: ["*"]}}
accounting: {allow_unpriced: true}
"""
        ),
        {},
    )
    chat = b'"messages": [{"role": "user", "content": "hi"}]}'
    said, ok = explain(config, "t", b'{"model": "bridged", ' + chat, hint=None, split_key="k")
    assert ok
    assert "bridged:      served through upstream /responses" in said
    said, _ = explain(config, "t", b'{"model": "plain", ' + chat, hint=None, split_key="k")
    assert "bridged" not in said
    said, ok = explain(
        config, "t", b'{"model": "bridged", "n": 2, ' + chat, hint=None, split_key="k"
    )
    assert not ok
    assert "unsupported_on_bridge" in said
