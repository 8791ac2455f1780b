"""The fake's Chat Completions, driven with the official SDK: shapes, ``n``, the output cap,
streams with and without usage, validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from fake_clients import tokens_of


def sse_data_lines(lines: Iterator[str]) -> list[str]:
    return [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]


def test_chat_completion_shape_and_n(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hello there friend"},
        ],
        n=2,
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o"
    assert completion.system_fingerprint
    assert completion.system_fingerprint.startswith("fp_")
    assert [choice.index for choice in completion.choices] == [0, 1]
    for choice in completion.choices:
        assert choice.message.role == "assistant"
        assert choice.message.content == "Fake answer: hello there friend"
        assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == tokens_of("You are terse.", "hello there friend")
    assert usage.completion_tokens == 2 * 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.prompt_tokens_details.audio_tokens == 0
    details = usage.completion_tokens_details
    assert details is not None
    assert (details.reasoning_tokens, details.audio_tokens) == (0, 0)
    assert (details.accepted_prediction_tokens, details.rejected_prediction_tokens) == (0, 0)


@pytest.mark.parametrize("cap_field", ["max_completion_tokens", "max_tokens"])
def test_chat_length_finish_reason(client: openai.OpenAI, cap_field: str) -> None:
    cap: dict[str, Any] = {cap_field: 6}
    completion = client.chat.completions.create(
        model="o4-mini", messages=[{"role": "user", "content": "a b c d e f g"}], **cap
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "Fake answer:"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 6
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 4


def test_chat_stream_without_usage(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "count to three"}]
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
    assert all(chunk.choices for chunk in chunks), "no choices-[] chunk without include_usage"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == (
        "Fake answer: count to three"
    )
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    assert len({chunk.id for chunk in chunks}) == 1

    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=messages, stream=True
    ) as raw:
        data = sse_data_lines(raw.iter_lines())
    assert data[-1] == "[DONE]"
    decoded = [orjson.loads(line) for line in data[:-1]]
    assert all("usage" not in chunk for chunk in decoded)
    assert all(chunk["obfuscation"] for chunk in decoded)


def test_chat_stream_with_include_usage(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-5-nano",
        messages=[{"role": "user", "content": "count to three"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as raw:
        data = sse_data_lines(raw.iter_lines())
    assert data[-1] == "[DONE]"
    decoded = [orjson.loads(line) for line in data[:-1]]
    *normal, usage_chunk = decoded
    assert all("usage" in chunk and chunk["usage"] is None for chunk in normal)
    assert all(chunk["choices"] for chunk in normal)
    assert normal[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["completion_tokens"] == 4 + 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_validation(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/chat/completions", body={"model": "gpt-4o"}, cast_to=httpx.Response)
    assert caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/chat/completions", body={"messages": []}, cast_to=httpx.Response)
    assert caught.value.param == "model"
