"""Realtime audio turns on the fake, driven with the official SDK: input-audio transcripts with
their usage, voice activity detection starting responses, a model change refused, and binary
frames refused (``fake_openai/realtime_turns.py``)."""

from __future__ import annotations

import base64
import json
from typing import Any

from fake_clients import MODEL, recv, recv_until, run, sdk

from fake_openai import FakeOpenAIServer, pcm16_silence

ONE_SECOND = base64.b64encode(pcm16_silence(1.0)).decode()
TRANSCRIPT = "Fake transcript of 1 seconds of audio."


async def configured(conn: Any, **audio_input: Any) -> None:
    assert (await recv(conn)).type == "session.created"
    await conn.session.update(
        session={"type": "realtime", "output_modalities": ["text"], "audio": {"input": audio_input}}
    )
    assert (await recv(conn)).type == "session.updated"


def test_a_committed_turn_is_transcribed_with_token_usage(fake: FakeOpenAIServer) -> None:
    async def scenario() -> list[Any]:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await configured(conn, transcription={"model": "gpt-4o-transcribe"})
            await conn.input_audio_buffer.append(audio=ONE_SECOND)
            await conn.input_audio_buffer.commit()
            return await recv_until(conn, "conversation.item.input_audio_transcription.completed")

    events = run(scenario())
    assert [e.type for e in events] == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
    ]
    done = events[-1]
    assert done.item_id == events[0].item_id
    assert (done.content_index, done.transcript) == (0, TRANSCRIPT)
    usage = done.usage
    assert (usage.type, usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        "tokens",
        10,  # 10 audio tokens a second
        7,  # one per transcript word
        17,
    )
    assert (usage.input_token_details.audio_tokens, usage.input_token_details.text_tokens) == (
        10,
        0,
    )


def test_whisper_reports_the_seconds_it_heard(fake: FakeOpenAIServer) -> None:
    async def scenario() -> Any:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await configured(conn, transcription={"model": "whisper-1"})
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(pcm16_silence(1.5)).decode()
            )
            await conn.input_audio_buffer.commit()
            events = await recv_until(conn, "conversation.item.input_audio_transcription.completed")
            return events[-1]

    done = run(scenario())
    assert (done.usage.type, done.usage.seconds) == ("duration", 1.5)
    assert done.transcript == "Fake transcript of 2 seconds of audio."


def test_no_transcript_without_a_transcription_model(fake: FakeOpenAIServer) -> None:
    async def scenario() -> list[str]:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await configured(conn)
            await conn.input_audio_buffer.append(audio=ONE_SECOND)
            await conn.input_audio_buffer.commit()
            events = await recv_until(conn, "conversation.item.done")
            await conn.input_audio_buffer.clear()  # the next event proves nothing came between
            events.append(await recv(conn))
            return [e.type for e in events]

    assert run(scenario()) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "input_audio_buffer.cleared",
    ]


def test_voice_activity_commits_the_turn_and_starts_a_response(fake: FakeOpenAIServer) -> None:
    async def scenario() -> list[Any]:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await configured(
                conn,
                turn_detection={"type": "server_vad"},
                transcription={"model": "whisper-1"},
            )
            await conn.input_audio_buffer.append(audio=ONE_SECOND)
            return await recv_until(conn, "response.done")

    events = run(scenario())
    types = [e.type for e in events]
    assert types[:7] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
    ]
    assert events[-1].response.status == "completed"
    assert events[-1].response.usage.input_token_details.audio_tokens == 10
    sent = [event["type"] for _, event in fake.realtime_events]
    assert "response.create" not in sent, "the response was started by voice activity"


def test_voice_activity_without_create_response_only_commits(fake: FakeOpenAIServer) -> None:
    async def scenario() -> list[str]:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await configured(conn, turn_detection={"type": "server_vad", "create_response": False})
            await conn.input_audio_buffer.append(audio=ONE_SECOND)
            events = await recv_until(conn, "conversation.item.done")
            await conn.input_audio_buffer.clear()
            events.append(await recv(conn))
            return [e.type for e in events]

    assert run(scenario()) == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "input_audio_buffer.cleared",
    ]


def test_a_session_cannot_change_its_model(fake: FakeOpenAIServer) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.session.update(
                session={"type": "realtime", "model": "gpt-realtime-mini"}, event_id="evt_switch"
            )
            refused = await recv(conn)
            await conn.session.update(session={"type": "realtime", "model": MODEL})
            return refused, await recv(conn)

    refused, same = run(scenario())
    assert refused.type == "error"
    assert (refused.error.param, refused.error.event_id) == ("session.model", "evt_switch")
    assert same.type == "session.updated"
    assert same.session.model == MODEL


def test_a_binary_frame_is_refused_and_not_recorded(fake: FakeOpenAIServer) -> None:
    async def scenario() -> Any:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.send_raw(json.dumps({"type": "response.create"}).encode())
            return await recv(conn)

    error = run(scenario())
    assert error.type == "error"
    assert error.error.code == "invalid_json"
    assert fake.realtime_events == []
