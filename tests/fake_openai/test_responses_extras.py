"""The fake's Responses extras, driven with the official SDK and checked raw against its
types: input-token counts, compaction (shape and usage), and replaying a stored response's
stream from a sequence number."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from fake_clients import tokens_of
from openai.types.responses import CompactedResponse, ResponseCompactionItem
from openai.types.responses.input_token_count_response import InputTokenCountResponse

from fake_openai.conformance import strict


def test_input_tokens_match_what_a_response_bills(client: openai.OpenAI) -> None:
    raw = client.post(
        "/responses/input_tokens",
        body={"model": "gpt-4.1", "input": "count these words please", "instructions": "Be brief."},
        cast_to=httpx.Response,
    ).json()
    counted = strict(InputTokenCountResponse, raw)
    assert counted.object == "response.input_tokens"
    assert counted.input_tokens == tokens_of("Be brief.", "count these words please")

    first = client.responses.create(model="gpt-4.1", input="hello there")
    follow = client.responses.input_tokens.count(
        model="gpt-4.1", input="and again", previous_response_id=first.id
    )
    billed = client.responses.create(
        model="gpt-4.1", input="and again", previous_response_id=first.id
    )
    assert billed.usage is not None
    assert follow.input_tokens == billed.usage.input_tokens
    with pytest.raises(openai.NotFoundError):
        client.responses.input_tokens.count(input="x", conversation="conv_missing")


def test_compact_keeps_user_messages_and_bills_the_context(client: openai.OpenAI) -> None:
    body: dict[str, Any] = {
        "model": "gpt-5",
        "input": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
        ],
    }
    raw = client.post("/responses/compact", body=body, cast_to=httpx.Response).json()
    assert set(raw) == {"id", "object", "created_at", "output", "usage"}
    assert raw["object"] == "response.compaction"
    *kept, compaction = raw["output"]
    assert [item["content"][0]["text"] for item in kept] == ["first question", "second question"]
    item = strict(ResponseCompactionItem, compaction)
    assert item.id.startswith("cmp_")
    assert item.encrypted_content
    compacted = CompactedResponse.model_validate({**raw, "output": [compaction]})
    expected = tokens_of("first question", "first answer", "second question")
    assert compacted.usage.input_tokens == expected
    assert compacted.usage.output_tokens == max(1, expected // 4)
    assert compacted.usage.total_tokens == expected + max(1, expected // 4)

    again = client.responses.compact(model="gpt-5", input=body["input"])
    assert again.output[-1].model_dump()["encrypted_content"] == item.encrypted_content
    with pytest.raises(openai.BadRequestError):
        client.post("/responses/compact", body={"input": "x"}, cast_to=httpx.Response)


def test_stream_replay_from_a_sequence_number(client: openai.OpenAI) -> None:
    created = client.responses.create(model="gpt-4.1", input="one two three")
    replay = list(client.responses.retrieve(created.id, stream=True))
    assert [e.sequence_number for e in replay] == list(range(len(replay)))
    assert replay[0].type == "response.created"
    assert replay[-1].type == "response.completed"
    deltas = "".join(e.delta for e in replay if e.type == "response.output_text.delta")
    assert deltas == created.output_text

    tail = list(client.responses.retrieve(created.id, stream=True, starting_after=5))
    assert [e.sequence_number for e in tail] == list(range(6, len(replay)))
    assert tail[-1].type == "response.completed"

    queued = client.responses.create(model="gpt-4.1", input="later", background=True)
    waiting = list(client.responses.retrieve(queued.id, stream=True))
    assert [e.type for e in waiting] == ["response.created", "response.queued"]
