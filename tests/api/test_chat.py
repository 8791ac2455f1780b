"""POST /v1/chat/completions through the gateway, JSON and streaming."""

from __future__ import annotations

from collections.abc import Callable

import openai

from fake_openai import FakeOpenAIServer


def test_chat_create(alpha: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    done = alpha.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "Say hi"}]
    )
    assert done.object == "chat.completion"
    assert done.id.startswith("chatcmpl-")
    assert done.choices[0].message.content
    assert done.usage is not None
    assert done.usage.total_tokens > 0
    assert fake.requests[0].path == "/v1/chat/completions"


def test_chat_stream_without_usage_has_no_usage_chunk(alpha: openai.OpenAI) -> None:
    chunks = list(
        alpha.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "Say hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_stream_without_usage_asked_carries_no_usage_key_at_all(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    raw = alpha.chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "Say hi"}], stream=True
    )
    data = [line for line in raw.http_response.iter_lines() if line.startswith("data: {")]
    assert data, "the stream has chunks"
    assert not [line for line in data if '"usage"' in line], "as OpenAI sends it unasked"
    sent = fake.requests[-1].json()
    assert sent["stream_options"] == {"include_usage": True}, "the gateway asked, to meter it"


def test_chat_stream_with_include_usage_ends_with_usage_chunk(alpha: openai.OpenAI) -> None:
    chunks = list(
        alpha.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "Say hi twice"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    assert text.startswith("Fake answer:")


def test_models_lists_what_the_tenant_may_use(
    client_for: Callable[[str], openai.OpenAI],
) -> None:
    beta = client_for("beta")
    assert [m.id for m in beta.models.list()] == ["gpt-5-nano"]
    alpha = client_for("alpha")
    assert {m.id for m in alpha.models.list()} == {
        "gpt-5-nano",
        "gpt-5-mini",
        "gpt-4.1",
        "small",
        "gpt-realtime",
        "text-embedding-3-small",
        "omni-moderation-latest",
        "gpt-image-1",
        "tts-1",
        "gpt-4o-mini-tts",
        "whisper-1",
        "gpt-4o-transcribe",
    }


def test_models_say_who_serves_them(client_for: Callable[[str], openai.OpenAI]) -> None:
    alpha = client_for("alpha")
    owners = {m.id: m.owned_by for m in alpha.models.list()}
    assert owners["gpt-5-nano"] == "openai"
    assert owners["small"] == "gateway", "an alias of gpt-4.1-mini is the gateway's name"
    card = alpha.models.retrieve("gpt-4.1")
    assert (card.id, card.object, card.owned_by) == ("gpt-4.1", "model", "openai")
