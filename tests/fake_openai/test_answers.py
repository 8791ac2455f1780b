"""Scripted answers (``Fault.output_text``, ``refusal``, ``function_call``, ``incomplete``)
in Responses and Chat, JSON and streams alike, and faults matched by model.
"""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest

from fake_openai import FakeOpenAIServer, Fault
from fake_openai.generation import REASONING_TOKENS as REASONING
from fake_openai.generation import split_deltas

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
