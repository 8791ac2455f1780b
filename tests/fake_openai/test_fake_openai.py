"""Drive the fake OpenAI upstream with the official SDK, so the fake is held to the real wire.

If the SDK can parse what the fake sends and raises the right exceptions for its faults, the
gateway's tests against the fake exercise the same code paths as production traffic.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from fake_openai import MODELS, FakeOpenAIServer, Fault
from fake_openai.generation import REASONING_TOKENS as REASONING
from fake_openai.generation import split_deltas
from fake_openai.wire import go_duration, mask_key

API_KEY = "sk-fake-test-0123456789abcdef"
GO_DURATION = re.compile(r"^(\d+m)?\d+(\.\d+)?(ms|s)$")


def tokens_of(*texts: str) -> int:
    """The fake's documented token rule: a quarter of the UTF-8 bytes, at least 1."""
    return max(1, sum(len(text.encode()) for text in texts) // 4)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.clear()
    return server


@pytest.fixture
def client(fake: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0, timeout=5.0)


def sse_data_lines(lines: Iterator[str]) -> list[str]:
    return [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]


def drain(stream: Iterable[Any], sink: list[Any]) -> None:
    """Consume a stream into ``sink`` so a test can still see what arrived before it failed."""
    for event in stream:
        sink.append(event)


def message_texts(items: Iterable[Any]) -> list[str]:
    return [
        part["text"]
        for item in items
        if item.type == "message"
        for part in item.model_dump()["content"]
    ]


# --------------------------------------------------------------------------- Responses


def test_response_create_shape_usage_and_headers(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    prompt = "Tell me a story about a lighthouse keeper"
    raw = client.responses.with_raw_response.create(
        model="gpt-4.1", input=prompt, instructions="Be brief.", metadata={"t": "1"}
    )
    response = raw.parse()

    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == "gpt-4.1"
    assert response.instructions == "Be brief."
    assert response.metadata == {"t": "1"}
    assert response.service_tier == "default"
    assert response.error is None
    assert response.incomplete_details is None
    assert [item.type for item in response.output] == ["message"]
    message = response.output[0]
    assert message.type == "message"
    assert message.id.startswith("msg_")
    assert message.content[0].type == "output_text"
    assert response.output_text == f"Fake answer: {prompt}"

    usage = response.usage
    assert usage is not None
    assert usage.input_tokens == tokens_of("Be brief.", prompt)
    assert usage.output_tokens == len(response.output_text.split())
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens

    headers = raw.headers
    assert re.fullmatch(r"req_[0-9a-f]{32}", headers["x-request-id"])
    assert raw.request_id == headers["x-request-id"]
    assert headers["openai-version"] == "2020-10-01"
    assert int(headers["openai-processing-ms"]) >= 0
    for kind in ("requests", "tokens"):
        assert int(headers[f"x-ratelimit-limit-{kind}"]) > 0
        assert int(headers[f"x-ratelimit-remaining-{kind}"]) > 0
        assert GO_DURATION.match(headers[f"x-ratelimit-reset-{kind}"])

    (recorded,) = fake.requests
    assert recorded.method == "POST"
    assert recorded.path == "/v1/responses"
    assert recorded.headers["authorization"] == f"Bearer {API_KEY}"
    assert recorded.json()["input"] == prompt


def test_reasoning_model_counts_reasoning_inside_output(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-5-mini", input="why is the sky blue")
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].type == "reasoning"
    assert response.output[0].summary == []
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 4
    assert response.usage.output_tokens == 4 + len(response.output_text.split())


def test_prompt_caching_by_prefix_and_by_cache_key(client: openai.OpenAI) -> None:
    text = "a fairly long prompt that will be cached " * 4
    first = client.responses.create(model="gpt-4o", input=text)
    second = client.responses.create(model="gpt-4o", input=text)
    other_model = client.responses.create(model="gpt-4o-mini", input=text)
    assert first.usage is not None
    assert second.usage is not None
    assert other_model.usage is not None
    assert first.usage.input_tokens_details.cached_tokens == 0
    assert second.usage.input_tokens_details.cached_tokens == second.usage.input_tokens // 2 > 0
    assert other_model.usage.input_tokens_details.cached_tokens == 0

    cached = []
    for text in ("first wording of a prompt", "another wording entirely, longer"):
        keyed = client.responses.create(model="gpt-4o", input=text, prompt_cache_key="k1")
        assert keyed.usage is not None
        cached.append((keyed.usage.input_tokens_details.cached_tokens, keyed.usage.input_tokens))
    assert cached[0][0] == 0
    assert cached[1][0] == cached[1][1] // 2 > 0


def test_web_search_tool_adds_call_item_and_tool_usage(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4.1", input="latest news on rust", tools=[{"type": "web_search"}]
    )
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert response.output[0].type == "web_search_call"
    assert response.output[0].status == "completed"
    assert response.tool_usage is not None
    assert response.tool_usage.web_search.num_requests == 1


def test_max_output_tokens_truncates_to_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt-5", input="one two three four five six seven eight", max_output_tokens=7
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 7
    assert response.usage is not None
    assert response.usage.output_tokens == 7
    assert response.usage.output_tokens_details.reasoning_tokens == 4
    assert response.output_text == "Fake answer: one"
    assert response.output[-1].type == "message"
    assert response.output[-1].status == "incomplete"


def test_response_stream_events_order_and_usage(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="o4-mini", input="stream me please", stream=True))
    types = [event.type for event in events]
    words = ["Fake", "answer:", "stream", "me", "please"]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * len(words),
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))

    created, in_progress = events[0], events[1]
    assert created.type == "response.created"
    assert in_progress.type == "response.in_progress"
    assert created.response.usage is None
    assert created.response.status == "in_progress"
    assert in_progress.response.usage is None
    assert events[2].type == "response.output_item.added"
    assert events[2].item.type == "reasoning"

    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert "".join(d.delta for d in deltas) == "Fake answer: stream me please"
    assert all(d.logprobs == [] for d in deltas)
    assert all(isinstance(d.model_extra, dict) and d.model_extra["obfuscation"] for d in deltas)

    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.id == created.response.id
    assert completed.response.output_text == "Fake answer: stream me please"
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == 4 + len(words)
    assert completed.response.usage.input_tokens == tokens_of("stream me please")


def test_response_stream_wire_framing(client: openai.OpenAI) -> None:
    with client.responses.with_streaming_response.create(
        model="gpt-4o", input="hi", stream=True, max_output_tokens=1
    ) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        body = raw.read().decode()
    blocks = [block for block in body.split("\n\n") if block]
    assert "[DONE]" not in body
    for block in blocks:
        event_line, data_line = block.split("\n")
        name = event_line.removeprefix("event: ")
        assert orjson.loads(data_line.removeprefix("data: "))["type"] == name
    assert blocks[-1].startswith("event: response.incomplete\n")


def test_previous_response_chain_and_not_found(client: openai.OpenAI) -> None:
    first = client.responses.create(model="gpt-4o", input="my name is Ada", instructions="hi")
    second = client.responses.create(
        model="gpt-4o", input="what is my name", previous_response_id=first.id, instructions="hi"
    )
    assert second.previous_response_id == first.id
    assert second.usage is not None
    # The chained context (earlier input and output) is billed again as input, and cached.
    assert second.usage.input_tokens == tokens_of(
        "hi", "my name is Ada", first.output_text, "what is my name"
    )
    assert second.usage.input_tokens_details.cached_tokens == second.usage.input_tokens // 2

    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", input="x", previous_response_id="resp_nope")
    assert caught.value.status_code == 400
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"


def test_retrieve_delete_and_store_false(client: openai.OpenAI) -> None:
    created = client.responses.create(model="gpt-4o", input="keep me")
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id
    assert fetched.output_text == created.output_text
    assert fetched.usage == created.usage

    deleted = client.delete(f"/responses/{created.id}", cast_to=httpx.Response)
    assert deleted.json() == {"id": created.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(created.id)
    assert caught.value.body == {
        "message": f"No response found with id '{created.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }

    unstored = client.responses.create(model="gpt-4o", input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_background_cancel_and_finish(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    queued = client.responses.create(model="gpt-5", input="slow job", background=True)
    assert queued.status == "queued"
    assert queued.usage is None
    assert queued.background is True
    assert client.responses.retrieve(queued.id).status == "queued"
    cancelled = client.responses.cancel(queued.id)
    assert cancelled.id == queued.id
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(queued.id).status == "cancelled"

    other = client.responses.create(model="gpt-5", input="another job", background=True)
    fake.finish_background(other.id)
    done = client.responses.retrieve(other.id)
    assert done.status == "completed"
    assert done.usage is not None
    assert done.usage.output_tokens_details.reasoning_tokens == 4

    foreground = client.responses.create(model="gpt-5", input="fast job")
    with pytest.raises(openai.BadRequestError, match="background=true"):
        client.responses.cancel(foreground.id)


def test_input_items_listing_and_pagination(client: openai.OpenAI) -> None:
    created = client.responses.create(
        model="gpt-4o",
        input=[
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
            {"type": "message", "role": "user", "content": "second"},
        ],
    )
    assert created.output_text == "Fake answer: rules first second"
    desc = client.responses.input_items.list(created.id)
    assert message_texts(desc.data) == ["second", "first", "rules"]
    assert all(item.id and item.id.startswith("msg_") for item in desc.data)
    assert desc.has_more is False
    wire = client.get(f"/responses/{created.id}/input_items", cast_to=httpx.Response).json()
    assert wire["object"] == "list"
    assert wire["first_id"] == wire["data"][0]["id"]
    assert wire["last_id"] == wire["data"][-1]["id"]

    page = client.responses.input_items.list(created.id, order="asc", limit=2)
    assert message_texts(page.data) == ["rules", "first"]
    assert page.has_more is True
    rest = client.responses.input_items.list(
        created.id, order="asc", limit=2, after=page.data[-1].id
    )
    assert message_texts(rest.data) == ["second"]
    assert rest.has_more is False


def test_responses_validation_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/responses", body={"input": "no model"}, cast_to=httpx.Response)
    assert caught.value.param == "model"
    assert caught.value.type == "invalid_request_error"

    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/responses", body={"model": "gpt-4o", "input": 42}, cast_to=httpx.Response)
    assert caught.value.param == "input"


# --------------------------------------------------------------------------- Chat Completions


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


# --------------------------------------------------------------------------- misc endpoints


def test_models_list(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == list(MODELS)
    assert all(m.object == "model" and m.owned_by == "openai" for m in models.data)


def test_auth_failure_masks_key(fake: FakeOpenAIServer) -> None:
    wrong = "sk-wrong-key-abcdefghijWXYZ"
    bad = openai.OpenAI(base_url=fake.base_url, api_key=wrong, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-*****WXYZ" in caught.value.message
    assert wrong not in caught.value.message

    anonymous = httpx.get(f"{fake.base_url}/models")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "invalid_request_error"
    assert anonymous.headers["x-request-id"].startswith("req_")


def test_unknown_path_and_invalid_json(fake: FakeOpenAIServer) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    unknown = httpx.post(f"{fake.base_url}/nope", headers=headers, content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "message": "Invalid URL (POST /v1/nope)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    broken = httpx.post(f"{fake.base_url}/responses", headers=headers, content=b"{not json")
    assert broken.status_code == 400
    assert "could not parse the JSON body" in broken.json()["error"]["message"]
    assert [r.path for r in fake.requests] == ["/v1/nope", "/v1/responses"]
    assert fake.requests[1].body == b"{not json"


# --------------------------------------------------------------------------- faults


def test_fault_status_with_retry_after_is_recorded_and_consumed(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/chat/completions", status=503))
    fake.inject(Fault(path="/v1/responses", status=429, headers={"Retry-After": "7"}))
    # The chat fault is queued first but must not fire on a Responses call.
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="gpt-4o", input="throttled")
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    assert caught.value.response.headers["x-request-id"].startswith("req_")
    assert fake.requests[-1].json()["input"] == "throttled"

    assert client.responses.create(model="gpt-4o", input="fine now").status == "completed"
    with pytest.raises(openai.InternalServerError) as server_error:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert server_error.value.type == "server_error"


def test_fault_raw_body(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(status=502, body=b"<html>Bad Gateway</html>"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.models.list()
    assert caught.value.status_code == 502
    assert caught.value.response.text == "<html>Bad Gateway</html>"


def test_fault_drop_connection(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", drop_connection=True))
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="gpt-4o", input="lost")
    assert len(fake.requests) == 1
    assert client.responses.create(model="gpt-4o", input="back").status == "completed"


def test_fault_drop_after_events_mid_stream(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(drop_after_events=4))
    received: list[Any] = []
    stream = client.responses.create(model="gpt-4o", input="cut me off", stream=True)
    with pytest.raises(openai.APIConnectionError):
        drain(stream, received)
    assert len(received) == 4
    assert "response.completed" not in [event.type for event in received]
    # The response was stored before streaming, so a gateway can settle usage with GET.
    assert received[0].type == "response.created"
    settled = client.responses.retrieve(received[0].response.id)
    assert settled.status == "completed"
    assert settled.usage is not None


def test_fault_drop_after_events_chat_and_non_stream(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/chat/completions", drop_after_events=2))
    chunks: list[Any] = []
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        drain(stream, chunks)
    assert len(chunks) == 2

    fake.inject(Fault(drop_after_events=0))
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="gpt-4o", input="not streamed")


def test_fault_stall_after_events(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(stall_after_events=2))
    received: list[Any] = []
    started = time.monotonic()
    stream = client.with_options(timeout=0.3).responses.create(
        model="gpt-4o", input="hang", stream=True
    )
    with pytest.raises(openai.APITimeoutError):
        drain(stream, received)
    assert [event.type for event in received] == ["response.created", "response.in_progress"]
    assert time.monotonic() - started < 2


def test_fault_delay(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(delay_s=0.25))
    started = time.monotonic()
    assert client.models.list().data
    assert time.monotonic() - started >= 0.25

    fake.inject(Fault(delay_s=0.5))
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.1).models.list()


def test_event_delay_paces_stream() -> None:
    with FakeOpenAIServer(event_delay_s=0.02) as slow:
        client = openai.OpenAI(base_url=slow.base_url, api_key="unused", max_retries=0)
        stamps = [
            time.monotonic()
            for _ in client.responses.create(model="gpt-4o", input="a b", stream=True)
        ]
        # A client hanging up mid-stream must not break the server for the next caller.
        with client.responses.with_streaming_response.create(
            model="gpt-4o", input="a b c d e f", stream=True
        ) as raw:
            assert next(raw.iter_lines()) == "event: response.created"
        assert client.models.list().data
    # 12 events (4 of them deltas), so at least 11 pauses between the first and the last.
    assert len(stamps) == 12
    assert stamps[-1] - stamps[0] >= 11 * 0.02 * 0.9


# --------------------------------------------------------------------------- scripted answers

# Odd whitespace on purpose: streams must join back to exactly this, spaces and all.
SCRIPTED = '{"answer":  42,\n "ok": true} '
SCRIPTED_TOKENS = 5  # '{"answer":' '  42,' '\n "ok":' ' true}' ' '
CALL_ARGS = '{"city": "Paris", "unit": "celsius"}'
CALL_TOKENS = 4
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CHAT_WEATHER_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": WEATHER_TOOL["parameters"]},
}
USER_HI: Any = [{"role": "user", "content": "hi"}]


def test_split_deltas_rejoins_exactly() -> None:
    assert split_deltas(SCRIPTED) == ['{"answer":', "  42,", '\n "ok":', " true}", " "]
    assert split_deltas("Fake answer: x") == ["Fake", " answer:", " x"]
    assert split_deltas("") == []
    for text in (SCRIPTED, "  lead", "a\t\tb\n\n", "   "):
        assert "".join(split_deltas(text)) == text


def test_fault_output_text_responses(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    schema_format: Any = {
        "format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}
    }
    # Structured output without a scripted answer keeps the plain deterministic echo.
    plain = client.responses.create(model="gpt-4.1", input="q", text=schema_format)
    assert plain.output_text == "Fake answer: q"

    fake.inject(Fault(path="/v1/responses", output_text=SCRIPTED))
    response = client.responses.create(model="gpt-4.1", input="q", text=schema_format)
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text == SCRIPTED
    assert response.usage is not None
    assert response.usage.output_tokens == SCRIPTED_TOKENS
    assert response.usage.total_tokens == response.usage.input_tokens + SCRIPTED_TOKENS

    fake.inject(Fault(output_text=SCRIPTED))
    events = list(client.responses.create(model="gpt-5", input="q", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == split_deltas(SCRIPTED)
    assert "".join(deltas) == SCRIPTED
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    assert done.text == SCRIPTED
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == SCRIPTED
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == REASONING + SCRIPTED_TOKENS

    # Consumed: the next request gets the usual answer again.
    assert client.responses.create(model="gpt-4.1", input="q").output_text == "Fake answer: q"


def test_fault_output_text_chat(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/chat/completions", output_text=SCRIPTED))
    completion = client.chat.completions.create(
        model="gpt-4o", messages=USER_HI, n=2, response_format={"type": "json_object"}
    )
    assert [c.message.content for c in completion.choices] == [SCRIPTED, SCRIPTED]
    assert [c.finish_reason for c in completion.choices] == ["stop", "stop"]
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2 * SCRIPTED_TOKENS

    fake.inject(Fault(output_text=SCRIPTED))
    chunks = list(
        client.chat.completions.create(
            model="o4-mini",
            messages=USER_HI,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *normal, usage_chunk = chunks
    pieces = [c.choices[0].delta.content for c in normal]
    assert pieces[0] == ""
    assert pieces[1:-1] == split_deltas(SCRIPTED)
    assert "".join(p or "" for p in pieces) == SCRIPTED
    assert normal[-1].choices[0].finish_reason == "stop"
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == REASONING + SCRIPTED_TOKENS


def test_fault_refusal_responses(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    refusal = "I can't help  with that. "
    fake.inject(Fault(refusal=refusal))
    response = client.responses.create(model="gpt-4o", input="do a bad thing")
    assert response.status == "completed"
    (message,) = response.output
    assert message.type == "message"
    assert message.model_dump()["content"] == [{"type": "refusal", "refusal": refusal}]
    assert response.output_text == ""
    assert response.usage is not None
    assert response.usage.output_tokens == len(split_deltas(refusal)) == 6

    fake.inject(Fault(refusal=refusal))
    events = list(client.responses.create(model="gpt-4o", input="again", stream=True))
    types = [event.type for event in events]
    assert not [t for t in types if t.startswith("response.output_text")]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.refusal.delta"] * 6,
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[3]
    assert added.type == "response.content_part.added"
    assert added.part.type == "refusal"
    assert "".join(e.delta for e in events if e.type == "response.refusal.delta") == refusal
    (done,) = [e for e in events if e.type == "response.refusal.done"]
    assert done.refusal == refusal

    # The SDK's accumulating helper rebuilds the same final response.
    fake.inject(Fault(refusal=refusal))
    with client.responses.stream(model="gpt-4o", input="third") as stream:
        final = stream.get_final_response()
    assert final.output[0].model_dump()["content"] == [{"type": "refusal", "refusal": refusal}]


def test_fault_refusal_chat(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    refusal = "Sorry,  no."
    fake.inject(Fault(refusal=refusal))
    completion = client.chat.completions.create(model="gpt-4o", messages=USER_HI)
    (choice,) = completion.choices
    assert choice.message.refusal == refusal
    assert choice.message.content is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2

    fake.inject(Fault(refusal=refusal))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True))
    assert all(c.choices[0].delta.content is None for c in chunks)
    assert chunks[0].choices[0].delta.refusal == ""
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks) == refusal
    assert chunks[-1].choices[0].finish_reason == "stop"

    fake.inject(Fault(refusal=refusal))
    with client.chat.completions.stream(model="gpt-4o", messages=USER_HI) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.refusal == refusal
    assert final.choices[0].message.content is None


def test_fault_function_call_responses(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(function_call=("get_weather", CALL_ARGS)))
    response = client.responses.create(model="gpt-5", input="weather?", tools=[WEATHER_TOOL])
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "function_call"]
    call = response.output[1]
    assert call.type == "function_call"
    assert call.id is not None
    assert re.fullmatch(r"fc_[0-9a-f]+", call.id)
    assert re.fullmatch(r"call_[0-9a-f]+", call.call_id)
    assert (call.name, call.arguments, call.status) == ("get_weather", CALL_ARGS, "completed")
    assert response.output_text == ""
    assert response.usage is not None
    assert response.usage.output_tokens == REASONING + CALL_TOKENS

    fake.inject(Fault(function_call=("get_weather", CALL_ARGS)))
    events = list(
        client.responses.create(model="gpt-4.1", input="w", tools=[WEATHER_TOOL], stream=True)
    )
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * CALL_TOKENS,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added, item_done = events[2], events[-2]
    assert added.type == "response.output_item.added"
    assert added.item.type == "function_call"
    assert (added.item.arguments, added.item.status) == ("", "in_progress")
    assert item_done.type == "response.output_item.done"
    assert item_done.item.model_dump(exclude_none=True) == {
        "type": "function_call",
        "id": added.item.id,
        "call_id": added.item.call_id,
        "name": "get_weather",
        "arguments": CALL_ARGS,
        "status": "completed",
    }
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert all(d.item_id == added.item.id and d.output_index == 0 for d in deltas)
    assert "".join(d.delta for d in deltas) == CALL_ARGS
    (args_done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert args_done.arguments == CALL_ARGS
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == CALL_TOKENS

    # Arguments are sent verbatim, even when they are not JSON at all.
    fake.inject(Fault(function_call=("get_weather", "{not json")))
    with client.responses.stream(model="gpt-4.1", input="w", tools=[WEATHER_TOOL]) as stream:
        final = stream.get_final_response()
    (streamed,) = final.output
    assert streamed.type == "function_call"
    assert streamed.arguments == "{not json"


def test_fault_function_call_chat(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(function_call=("get_weather", CALL_ARGS)))
    completion = client.chat.completions.create(
        model="gpt-4o", messages=USER_HI, tools=[CHAT_WEATHER_TOOL]
    )
    (choice,) = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (tool_call,) = choice.message.tool_calls
    assert tool_call.type == "function"
    assert re.fullmatch(r"call_[0-9a-f]+", tool_call.id)
    assert (tool_call.function.name, tool_call.function.arguments) == ("get_weather", CALL_ARGS)
    assert completion.usage is not None
    assert completion.usage.completion_tokens == CALL_TOKENS

    fake.inject(Fault(function_call=("get_weather", CALL_ARGS)))
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=USER_HI, tools=[CHAT_WEATHER_TOOL], stream=True
        )
    )
    first = chunks[0].choices[0].delta
    assert first.role == "assistant"
    assert first.content is None
    assert first.tool_calls is not None
    (opening,) = first.tool_calls
    assert opening.index == 0
    assert opening.id is not None
    assert opening.id.startswith("call_")
    assert opening.type == "function"
    assert opening.function is not None
    assert (opening.function.name, opening.function.arguments) == ("get_weather", "")
    pieces = []
    for chunk in chunks[1:-1]:
        (piece,) = chunk.choices[0].delta.tool_calls or []
        assert (piece.index, piece.id, piece.type) == (0, None, None)
        assert piece.function is not None
        pieces.append(piece.function.arguments)
    assert pieces == split_deltas(CALL_ARGS)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    fake.inject(Fault(function_call=("get_weather", CALL_ARGS)))
    with client.chat.completions.stream(
        model="gpt-4o", messages=USER_HI, tools=[CHAT_WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_completion()
    (tool_call,) = final.choices[0].message.tool_calls or []
    assert tool_call.function.arguments == CALL_ARGS
    assert final.choices[0].finish_reason == "tool_calls"


def test_fault_incomplete_responses(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(incomplete=True, output_text=SCRIPTED))
    response = client.responses.create(model="gpt-4.1", input="long job")
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.completed_at is None
    assert response.output_text == SCRIPTED  # forced, so nothing was actually cut
    (message,) = response.output
    assert message.type == "message"
    assert message.status == "incomplete"
    assert response.usage is not None
    assert response.usage.output_tokens == SCRIPTED_TOKENS

    fake.inject(Fault(incomplete=True))
    events = list(client.responses.create(model="gpt-5", input="long job", stream=True))
    final = events[-1]
    assert final.type == "response.incomplete"
    assert final.response.incomplete_details is not None
    assert final.response.incomplete_details.reason == "max_output_tokens"
    assert final.response.output_text == "Fake answer: long job"

    fake.inject(Fault(incomplete=True, function_call=("get_weather", CALL_ARGS)))
    cut_call = client.responses.create(model="gpt-4.1", input="w", tools=[WEATHER_TOOL])
    assert cut_call.status == "incomplete"
    assert cut_call.output[0].type == "function_call"
    assert cut_call.output[0].status == "incomplete"


def test_scripted_answer_still_obeys_the_output_cap(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(output_text=SCRIPTED))
    response = client.responses.create(model="gpt-4.1", input="q", max_output_tokens=2)
    assert response.status == "incomplete"
    assert response.output_text == '{"answer":  42,'
    assert response.usage is not None
    assert response.usage.output_tokens == 2

    fake.inject(Fault(function_call=("get_weather", CALL_ARGS)))
    completion = client.chat.completions.create(
        model="gpt-4o", messages=USER_HI, max_completion_tokens=1
    )
    assert completion.choices[0].finish_reason == "length"
    (tool_call,) = completion.choices[0].message.tool_calls or []
    assert tool_call.type == "function"
    assert tool_call.function.arguments == '{"city":'


def test_fault_incomplete_chat(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(incomplete=True, output_text=SCRIPTED))
    completion = client.chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == SCRIPTED

    fake.inject(Fault(incomplete=True, function_call=("get_weather", CALL_ARGS)))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True))
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "length"]


def test_fault_model_matching(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(model="gpt-5-nano", incomplete=True, output_text="bad"))
    fake.inject(Fault(model="gpt-5", output_text="good"))
    fake.inject(Fault(model="gpt-5-nano", output_text="second"))
    # Requests without a model never match a model fault.
    assert client.models.list().data

    # The bigger model's fault is queued second but is the first one that matches it.
    big = client.responses.create(model="gpt-5", input="q")
    assert (big.status, big.output_text) == ("completed", "good")
    small = client.responses.create(model="gpt-5-nano", input="q")
    assert (small.status, small.output_text) == ("incomplete", "bad")
    # An unrelated model is untouched; the remaining nano fault waits for its model.
    other = client.chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert other.choices[0].message.content == "Fake answer: hi"
    chunks = list(client.chat.completions.create(model="gpt-5-nano", messages=USER_HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "second"
    again = client.responses.create(model="gpt-5-nano", input="q")
    assert again.output_text == "Fake answer: q"

    # Model and path must both match.
    fake.inject(Fault(path="/v1/chat/completions", model="gpt-4o", status=500))
    assert client.responses.create(model="gpt-4o", input="q").status == "completed"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=USER_HI)


def test_fault_answer_validation() -> None:
    with pytest.raises(ValueError, match="only one of output_text, refusal"):
        Fault(output_text="a", refusal="b")
    with pytest.raises(ValueError, match="function_call"):
        Fault(function_call=("", "{}"))
    with pytest.raises(ValueError, match="function_call"):
        Fault(function_call=("f",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        Fault(model="")
    assert Fault(model="gpt-5").matches("/v1/responses", "gpt-5")
    assert not Fault(model="gpt-5").matches("/v1/responses", "gpt-5-mini")
    assert not Fault(model="gpt-5").matches("/v1/models")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (0.006, "6ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s")],
)
def test_go_duration(seconds: float, expected: str) -> None:
    assert go_duration(seconds) == expected


def test_mask_key_never_reveals_short_keys() -> None:
    assert mask_key("sk-proj-abcdefghijklmnop") == "sk-*****mnop"
    assert mask_key("short") == "*****"


def test_cli_serves_and_prints_base_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_openai", "--port", "0", "--api-key", "k" * 12],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        client = openai.OpenAI(base_url=base_url, api_key="k" * 12, max_retries=0)
        assert [m.id for m in client.models.list().data] == list(MODELS)
    finally:
        process.terminate()
        process.wait(timeout=5)
