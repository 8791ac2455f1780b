"""Realtime sessions driven with the official SDK: event sequences, usage billed as
``fake_openai/README.md`` documents it, conversation items, cancels and error events.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from fake_clients import (
    API_KEY,
    KNOWN_EXTRAS,
    MODEL,
    REALTIME_TYPES,
    audio_tokens,
    check_shape,
    recv,
    recv_until,
    run,
    sdk,
    tokens,
)
from websockets.exceptions import ConnectionClosedError

from fake_openai import FakeOpenAIServer, Fault, pcm16_silence

TEXT_SETUP = [
    "response.created",
    "rate_limits.updated",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
]


TEXT_TEARDOWN = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def text_session(conn: Any, **session: Any) -> None:
    """Consume ``session.created`` and switch the session to text answers."""
    assert (await recv(conn)).type == "session.created"
    await conn.session.update(
        session={"type": "realtime", "output_modalities": ["text"], **session}
    )
    assert (await recv(conn)).type == "session.updated"


async def say(conn: Any, text: str, audio: bytes | None = None) -> str:
    """Add a user message; returns its item id once the fake has confirmed it."""
    content: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
    if audio is not None:
        content.append({"type": "input_audio", "audio": b64(audio)})
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": content}
    )
    added, done = await recv(conn), await recv(conn)
    assert (added.type, done.type) == ("conversation.item.added", "conversation.item.done")
    return str(added.item.id)


def test_session_created_is_a_ga_realtime_session(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            raw = json.loads(await conn.recv_bytes())
        assert raw["type"] == "session.created"
        assert raw["event_id"].startswith("event_")
        session = raw["session"]
        assert session["type"] == "realtime"
        assert session["object"] == "realtime.session"
        assert session["id"].startswith("sess_")
        assert session["model"] == MODEL
        assert session["output_modalities"] == ["audio"]
        assert session["max_output_tokens"] == "inf"
        assert session["instructions"] == ""
        pcm = {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["format"] == pcm
        assert session["audio"]["output"]["format"] == pcm
        assert session["audio"]["input"]["turn_detection"] is None
        assert time.time() < session["expires_at"] <= time.time() + 3600

    run(scenario())
    (upgrade,) = fake.requests
    assert (upgrade.method, upgrade.path, upgrade.query) == (
        "GET",
        "/v1/realtime",
        {"model": MODEL},
    )
    assert upgrade.headers["authorization"] == f"Bearer {API_KEY}"


def test_text_turn_streams_word_deltas_and_bills_as_documented(fake: FakeOpenAIServer) -> None:
    instructions, prompt = "Be brief.", "Tell me about lighthouses"

    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn, instructions=instructions)
            await say(conn, prompt)
            await conn.response.create()
            events = await recv_until(conn, "response.done")

        words = ["Fake", " answer:", " Tell", " me", " about", " lighthouses"]
        assert [e.type for e in events] == [
            *TEXT_SETUP,
            *["response.output_text.delta"] * len(words),
            *TEXT_TEARDOWN,
        ]
        assert [e.delta for e in events if e.type == "response.output_text.delta"] == words
        created, done = events[0], events[-1]
        assert created.response.status == "in_progress"
        assert created.response.usage is None
        assert done.response.id == created.response.id
        assert done.response.object == "realtime.response"
        assert done.response.status == "completed"
        assert done.response.output_modalities == ["text"]
        assert done.response.conversation_id is not None
        (item,) = done.response.output
        assert item.role == "assistant"
        assert item.content[0].type == "output_text"
        assert item.content[0].text == "Fake answer: Tell me about lighthouses"

        usage = done.response.usage
        assert usage.input_token_details.text_tokens == tokens(instructions) + tokens(prompt)
        assert (usage.input_token_details.audio_tokens, usage.input_tokens) == (0, 10)
        assert usage.input_token_details.cached_tokens == 0
        assert usage.output_token_details.text_tokens == len(words)
        assert usage.output_token_details.audio_tokens == 0
        assert (usage.output_tokens, usage.total_tokens) == (6, 16)

    run(scenario())
    session_ids = {session_id for session_id, _ in fake.realtime_events}
    assert len(session_ids) == 1
    assert [event["type"] for _, event in fake.realtime_events] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]


def test_audio_turn_bills_committed_input_audio_and_generated_audio(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            for _ in range(2):
                await conn.input_audio_buffer.append(audio=b64(pcm16_silence(0.75)))
            await conn.input_audio_buffer.commit()
            committed, added, done = await recv(conn), await recv(conn), await recv(conn)
            assert committed.type == "input_audio_buffer.committed"
            assert (added.type, done.type) == ("conversation.item.added", "conversation.item.done")
            assert added.item.id == committed.item_id
            assert added.item.content[0].type == "input_audio"
            assert added.item.content[0].audio is None, "audio bytes are never echoed"

            await conn.response.create()
            events = await recv_until(conn, "response.done")

        pair = ["response.output_audio_transcript.delta", "response.output_audio.delta"]
        assert [e.type for e in events] == [
            *TEXT_SETUP,
            *pair * 2,
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        assert events[4].part.type == "audio"
        chunks = [base64.b64decode(e.delta) for e in events if e.type == pair[1]]
        assert chunks == [bytes(4800)] * 2, "0.1 s of PCM16 silence per word"
        transcript = [e for e in events if e.type == "response.output_audio_transcript.done"]
        assert transcript[0].transcript == "Fake answer:"
        done_item = events[-1].response.output[0]
        assert done_item.content[0].type == "output_audio"
        assert done_item.content[0].transcript == "Fake answer:"

        usage = events[-1].response.usage
        assert usage.input_token_details.audio_tokens == audio_tokens(1.5) == 15
        assert usage.input_token_details.text_tokens == 0
        assert usage.output_token_details.text_tokens == 2
        assert usage.output_token_details.audio_tokens == 4, "20 tokens a second of output"
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (15, 6, 21)

    run(scenario())


def test_second_turn_reports_the_first_turns_input_as_cached_text_and_audio(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "first question", pcm16_silence(1.0))
            await conn.response.create()
            first = (await recv_until(conn, "response.done"))[-1].response
            await say(conn, "second one")
            await conn.response.create()
            second = (await recv_until(conn, "response.done"))[-1].response

        assert first.usage.input_token_details.cached_tokens == 0
        assert first.usage.input_token_details.text_tokens == tokens("first question")
        assert first.usage.input_token_details.audio_tokens == audio_tokens(1.0)

        answer = first.output[0].content[0].text
        assert answer == "Fake answer: first question"
        details = second.usage.input_token_details
        assert details.text_tokens == tokens("first question") + tokens(answer) + tokens(
            "second one"
        )
        assert details.audio_tokens == audio_tokens(1.0)
        assert details.cached_tokens_details.text_tokens == tokens("first question")
        assert details.cached_tokens_details.audio_tokens == audio_tokens(1.0)
        assert details.cached_tokens_details.image_tokens == 0
        assert details.cached_tokens == tokens("first question") + audio_tokens(1.0)
        assert second.usage.input_tokens == details.text_tokens + details.audio_tokens

    run(scenario())


@pytest.mark.parametrize(
    ("modality", "cap_on", "cap", "words", "audio_out"),
    [("text", "session", 3, 3, 0), ("audio", "response", 7, 2, 4)],
)
def test_max_output_tokens_stops_the_answer_and_ends_incomplete(
    fake: FakeOpenAIServer, modality: str, cap_on: str, cap: int, words: int, audio_out: int
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            session: dict[str, Any] = {"type": "realtime", "output_modalities": [modality]}
            if cap_on == "session":
                session["max_output_tokens"] = cap
            await conn.session.update(session=session)  # type: ignore[arg-type]  # built at run time
            assert (await recv(conn)).type == "session.updated"
            await say(conn, "one two three four five")
            overrides = {"max_output_tokens": cap} if cap_on == "response" else {}
            await conn.response.create(response=overrides)  # type: ignore[arg-type]  # built at run time
            done = (await recv_until(conn, "response.done"))[-1].response

        assert done.status == "incomplete"
        assert done.status_details.type == "incomplete"
        assert done.status_details.reason == "max_output_tokens"
        assert done.max_output_tokens == cap
        assert done.output[0].status == "incomplete"
        assert done.usage.output_token_details.text_tokens == words
        assert done.usage.output_token_details.audio_tokens == audio_out
        assert done.usage.output_tokens == words + audio_out <= cap

    run(scenario())


def test_out_of_band_response_stays_out_of_the_conversation(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "summarise this call")
            await conn.response.create(
                response={"conversation": "none", "metadata": {"purpose": "summary"}}
            )
            side = await recv_until(conn, "response.done")
            await conn.response.create()
            main = (await recv_until(conn, "response.done"))[-1].response

        assert not [e for e in side if e.type.startswith("conversation.item")]
        assert side[-1].response.conversation_id is None
        assert side[-1].response.metadata == {"purpose": "summary"}
        # The next turn's prompt is the user message alone: the side answer never joined it.
        assert main.usage.input_tokens == tokens("summarise this call")
        assert main.usage.input_token_details.cached_tokens == main.usage.input_tokens

    run(scenario())


def test_response_input_replaces_the_conversation_as_the_prompt(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            kept = await say(conn, "alpha beta")
            await say(conn, "gamma")
            extra = {"type": "input_text", "text": "delta epsilon"}
            await conn.response.create(
                response={  # type: ignore[arg-type]  # built at run time
                    "conversation": "none",
                    "instructions": "Answer briefly.",
                    "input": [
                        {"type": "item_reference", "id": kept},
                        {"type": "message", "role": "user", "content": [extra]},
                    ],
                }
            )
            done = (await recv_until(conn, "response.done"))[-1].response

        assert done.output[0].content[0].text == "Fake answer: delta epsilon"
        assert done.usage.input_tokens == (
            tokens("Answer briefly.") + tokens("alpha beta") + tokens("delta epsilon")
        )

    run(scenario())


def test_items_can_be_retrieved_and_deleted_from_the_conversation(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            item_id = await say(conn, "forget me")
            await conn.conversation.item.retrieve(item_id=item_id)
            retrieved = await recv(conn)
            await conn.conversation.item.delete(item_id=item_id)
            deleted = await recv(conn)
            await conn.conversation.item.retrieve(item_id=item_id)
            missing = await recv(conn)
            await conn.response.create()
            done = (await recv_until(conn, "response.done"))[-1].response

        assert retrieved.type == "conversation.item.retrieved"
        assert retrieved.item.content[0].text == "forget me"
        assert (deleted.type, deleted.item_id) == ("conversation.item.deleted", item_id)
        assert (missing.type, missing.error.code) == ("error", "item_not_found")
        assert done.usage.input_tokens == 0

    run(scenario())


def test_response_cancel_ends_the_active_response_cancelled(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "a b c d")
            # The response pauses after its first delta until the cancel arrives.
            fake.inject(Fault(path="/v1/realtime", stall_after_events=6))
            await conn.response.create()
            started = [await recv(conn) for _ in range(6)]
            assert [e.type for e in started] == [*TEXT_SETUP, "response.output_text.delta"]
            await conn.response.cancel()
            rest = await recv_until(conn, "response.done")

        assert [e.type for e in rest] == TEXT_TEARDOWN
        assert rest[0].text == "Fake"
        done = rest[-1].response
        assert done.status == "cancelled"
        assert done.status_details.reason == "client_cancelled"
        assert done.output[0].status == "incomplete"
        assert done.usage.output_tokens == 1
        assert done.usage.input_tokens == tokens("a b c d")

    run(scenario())


def test_response_cancel_without_an_active_response_is_an_error(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.response.cancel(event_id="evt_cancel_1")
            error = await recv(conn)

        assert error.type == "error"
        assert error.error.code == "response_cancel_not_active"
        assert error.error.event_id == "evt_cancel_1"

    run(scenario())


def test_drop_after_events_cuts_the_socket_without_a_close_frame(
    fake: FakeOpenAIServer,
) -> None:
    fake.inject(Fault(path="/v1/realtime", drop_after_events=3))

    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "hello")
            await conn.response.create()
            received = [await recv(conn) for _ in range(3)]
            with pytest.raises(ConnectionClosedError) as closed:
                await recv(conn)

        assert [e.type for e in received] == TEXT_SETUP[:3]
        assert closed.value.rcvd is None, "no close frame: the client sees 1006"

    run(scenario())


def test_clear_empties_the_input_buffer_so_a_commit_is_refused(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.input_audio_buffer.append(audio=b64(pcm16_silence(0.5)))
            await conn.input_audio_buffer.clear()
            assert (await recv(conn)).type == "input_audio_buffer.cleared"
            await conn.input_audio_buffer.commit()
            error = await recv(conn)

        assert error.type == "error"
        assert error.error.code == "input_audio_buffer_commit_empty"

    run(scenario())


def test_unknown_event_gets_an_error_event_and_the_session_goes_on(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.send_raw(json.dumps({"type": "bogus.event", "event_id": "evt_client_1"}))
            raw = json.loads(await conn.recv_bytes())
            await conn.session.update(session={"type": "realtime", "instructions": "still here"})
            updated = await recv(conn)

        check_shape(json.dumps(raw).encode(), REALTIME_TYPES, KNOWN_EXTRAS)
        assert raw["type"] == "error"
        assert raw["event_id"].startswith("event_")
        error = raw["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "unknown_event")
        assert (error["param"], error["event_id"]) == (None, "evt_client_1")
        assert "bogus.event" in error["message"]
        assert updated.session.instructions == "still here"

    run(scenario())


def test_malformed_json_gets_an_error_event_and_is_not_recorded(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.send_raw("{not json")
            error = await recv(conn)

        assert error.type == "error"
        assert error.error.code == "invalid_json"
        assert error.error.event_id is None

    run(scenario())
    assert fake.realtime_events == []


def test_session_update_requires_the_session_type(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.send_raw(json.dumps({"type": "session.update", "session": {}}))
            error = await recv(conn)

        assert error.error.code == "missing_required_parameter"
        assert error.error.param == "session.type"

    run(scenario())
