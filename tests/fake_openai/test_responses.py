"""The fake's Responses API over HTTP, driven with the official SDK: answers, usage,
streams, the store (retrieve, delete, cancel, input items) and validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import orjson
import pytest
from fake_clients import API_KEY, tokens_of

from fake_openai import FakeOpenAIServer

GO_DURATION = re.compile(r"^(\d+m)?\d+(\.\d+)?(ms|s)$")


def message_texts(items: Iterable[Any]) -> list[str]:
    return [
        part["text"]
        for item in items
        if item.type == "message"
        for part in item.model_dump()["content"]
    ]


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


def test_an_unknown_model_is_openais_404(fake: FakeOpenAIServer) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    for create in (
        lambda: client.responses.create(model="gpt-9-ultra", input="x"),
        lambda: client.chat.completions.create(
            model="gpt-9-ultra", messages=[{"role": "user", "content": "x"}]
        ),
    ):
        with pytest.raises(openai.NotFoundError) as err:
            create()
        assert (err.value.code, err.value.param) == ("model_not_found", "model")
    dated = client.responses.create(model="gpt-5-nano-2025-08-07", input="x")
    assert dated.model == "gpt-5-nano-2025-08-07"
