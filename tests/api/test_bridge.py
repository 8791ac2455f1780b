"""Chat Completions clients on a `chat_via_responses` route, through the official SDK: the
fake upstream only sees ``/v1/responses``, the client only ever sees chat completions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from harness import GatewayServer, config_dict, ledger_row, merged, metric_value, sdk
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam
from pydantic import BaseModel

from fake_openai import FakeOpenAIServer, Fault

ROUTES = {
    "bridged": {"ladder": ["gpt-5-mini"], "chat_via_responses": True},
    "judged": {
        "ladder": ["gpt-5-nano", "gpt-5-mini"],
        "chat_via_responses": True,
        "buffer_streams": True,
        "escalate_on": ["refusal"],
    },
}
SAY: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi to the bridge"}]


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("bridge") / "gateway.db"
    config = merged(config_dict(fake_server.base_url), {"routes": ROUTES})
    with GatewayServer(config, database_url=f"sqlite:///{db}") as server:
        yield server


@pytest.fixture
def client(gw: GatewayServer) -> openai.OpenAI:
    return sdk(gw)


def _sent(fake: FakeOpenAIServer) -> dict[str, object]:
    paths = [r.path for r in fake.requests]
    assert paths == ["/v1/responses"], paths
    body = fake.requests[0].json()
    assert isinstance(body, dict)
    return body


def test_create_answers_a_chat_completion_from_the_responses_api(
    client: openai.OpenAI, fake: FakeOpenAIServer, gw: GatewayServer
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="bridged",
        messages=[{"role": "system", "content": "Be brief."}, *SAY],
        max_completion_tokens=200,
        temperature=0.5,
    )
    done = raw.parse()
    sent = _sent(fake)
    assert sent["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hi to the bridge"},
    ]
    assert (sent["max_output_tokens"], sent["temperature"], sent["store"]) == (200, 0.5, False)
    assert "messages" not in sent
    assert done.object == "chat.completion"
    assert done.id.startswith("chatcmpl-")
    choice = done.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content
    assert choice.message.content.startswith("Fake answer:")
    assert choice.message.refusal is None
    assert done.usage is not None
    assert done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens == 4  # a reasoning model
    row = ledger_row(gw.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert row["endpoint"] == "chat.completions"
    assert row["route"] == "bridged"
    assert row["response_id"] == "resp_" + done.id.removeprefix("chatcmpl-")
    assert row["output_tokens"] == done.usage.completion_tokens
    assert row["reasoning_tokens"] == 4
    assert row["input_tokens"] + row["cached_input_tokens"] == done.usage.prompt_tokens  # type: ignore[operator]
    assert int(row["cost_nanos"]) > 0  # type: ignore[call-overload]


def test_stream_with_usage_is_chat_chunks_ending_in_usage(
    client: openai.OpenAI, fake: FakeOpenAIServer, gw: GatewayServer
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="bridged", messages=SAY, stream=True, stream_options={"include_usage": True}
        )
    )
    assert _sent(fake)["stream"] is True
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Fake answer:")
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 4
    assert len({c.id for c in chunks}) == 1


def test_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="bridged", messages=SAY, stream=True
    )
    lines = [line for line in raw.http_response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["choices"] for c in chunks)
    assert not [c for c in chunks if "usage" in c]


def test_a_tool_call_round_trip(
    client: openai.OpenAI, fake: FakeOpenAIServer, gw: GatewayServer
) -> None:
    tools: list[openai.types.chat.ChatCompletionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    counted = metric_value(gw, "gateway_tool_calls_total", tenant="alpha", tool="weather")
    fake.inject(Fault(path="/v1/responses", function_call=("weather", '{"city": "Oslo"}')))
    first = client.chat.completions.create(
        model="bridged", messages=SAY, tools=tools, tool_choice="required"
    )
    sent = fake.requests[0].json()
    assert sent["tools"] == [
        {
            "type": "function",
            "name": "weather",
            "strict": False,
            "parameters": tools[0]["function"]["parameters"],
        }
    ]
    assert sent["tool_choice"] == "required"
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert (
        metric_value(gw, "gateway_tool_calls_total", tenant="alpha", tool="weather") == counted + 1
    )
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "weather",
        {"city": "Oslo"},
    )
    fake.clear()
    second = client.chat.completions.create(
        model="bridged",
        tools=tools,
        messages=[
            *SAY,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert _sent(fake)["input"][1:] == [  # type: ignore[index]
        {
            "type": "function_call",
            "call_id": call.id,
            "name": "weather",
            "arguments": call.function.arguments,
        },
        {"type": "function_call_output", "call_id": call.id, "output": "sunny"},
    ]
    assert second.choices[0].finish_reason == "stop"


def test_a_streamed_tool_call_comes_as_tool_call_deltas(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/responses", function_call=("weather", '{"city": "Oslo"}')))
    chunks = list(
        client.chat.completions.create(
            model="bridged",
            messages=SAY,
            stream=True,
            tools=[{"type": "function", "function": {"name": "weather"}}],
        )
    )
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id
    assert calls[0].function
    assert calls[0].function.name == "weather"
    assert {tc.index for tc in calls} == {0}
    args = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert json.loads(args) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


class Greeting(BaseModel):
    words: str


def test_parse_with_a_pydantic_model(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", output_text='{"words": "hello"}'))
    done = client.chat.completions.parse(model="bridged", messages=SAY, response_format=Greeting)
    fmt = _sent(fake)["text"]["format"]  # type: ignore[index]
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "Greeting", True)
    assert fmt["schema"]["properties"] == {"words": {"title": "Words", "type": "string"}}
    assert done.choices[0].message.parsed == Greeting(words="hello")


def test_a_refusal_is_the_message_refusal(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", refusal="I can't help with that."))
    done = client.chat.completions.create(model="bridged", messages=SAY)
    message = done.choices[0].message
    assert (message.content, message.refusal) == (None, "I can't help with that.")
    fake.inject(Fault(path="/v1/responses", refusal="I can't help with that."))
    chunks = list(client.chat.completions.create(model="bridged", messages=SAY, stream=True))
    said = "".join(c.choices[0].delta.refusal or "" for c in chunks)
    assert said == "I can't help with that."


LONG: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": " ".join(f"word{i}" for i in range(30))}
]


def test_a_truncated_answer_ends_for_length(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    done = client.chat.completions.create(model="bridged", messages=LONG, max_tokens=16)
    assert _sent(fake)["max_output_tokens"] == 16
    assert done.choices[0].finish_reason == "length"
    chunks = list(
        client.chat.completions.create(model="bridged", messages=LONG, max_tokens=16, stream=True)
    )
    assert chunks[-1].choices[0].finish_reason == "length"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"seed": 7}, "seed"),
        ({"stop": ["\n"]}, "stop"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"store": True}, "store"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"messages": [{"role": "user", "content": "hi", "name": "ann"}]}, "messages[0].name"),
    ],
)
def test_what_cannot_be_translated_is_refused_by_name(
    client: openai.OpenAI, fake: FakeOpenAIServer, extra: dict[str, object], param: str
) -> None:
    body: dict[str, object] = {"messages": SAY, **extra}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="bridged", **body)  # type: ignore[call-overload]
    assert refused.value.param == param
    assert refused.value.code == "unsupported_on_bridge"
    assert "Responses API" in refused.value.message
    assert fake.requests == []


def test_a_model_named_directly_is_not_bridged(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    client.chat.completions.create(model="gpt-5-mini", messages=SAY)
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_bridged_refusal_escalates_and_the_client_sees_one_clean_answer(
    client: openai.OpenAI, fake: FakeOpenAIServer, stream: bool
) -> None:
    fake.inject(Fault(path="/v1/responses", model="gpt-5-nano", refusal="I can't help with that."))
    raw = client.chat.completions.with_raw_response.create(
        model="judged", messages=SAY, stream=stream
    )
    assert [r.json()["model"] for r in fake.requests] == ["gpt-5-nano", "gpt-5-mini"]
    assert {r.path for r in fake.requests} == {"/v1/responses"}
    assert raw.headers["x-gateway-escalations"] == "gpt-5-nano>gpt-5-mini:refusal"
    parsed = raw.parse()
    if isinstance(parsed, ChatCompletion):
        assert not stream
        text = parsed.choices[0].message.content or ""
    else:
        assert stream
        chunks: list[ChatCompletionChunk] = list(parsed)
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert chunks[-1].choices[0].finish_reason == "stop"
    assert text.startswith("Fake answer:")
