"""The fake's audio endpoints, driven with the official SDK and checked raw against its types:
speech (bytes per format, SSE with usage), transcriptions and translations (multipart, every
response format, streamed transcripts, duration and token usage)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import orjson
import pytest
from fake_clients import tokens_of
from openai.types.audio import (
    Transcription,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
)

from fake_openai.conformance import strict

AUDIO = ("talk.wav", bytes(40_000), "audio/wav")  # 2.5 s by the fake's rule: 3 s
TEXT = "Fake transcript of 3 seconds of audio."


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in text.strip().split("\n\n"):
        name, data = frame.split("\n")
        events.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
    return events


def multipart(client: openai.OpenAI, path: str, **fields: str) -> httpx.Response:
    return client.post(
        path,
        body=fields,
        files=[("file", AUDIO)],
        options={"headers": {"Content-Type": "multipart/form-data"}},
        cast_to=httpx.Response,
    )


@pytest.mark.parametrize(
    ("response_format", "content_type", "prefix"),
    [
        ("mp3", "audio/mpeg", b"ID3"),
        ("wav", "audio/wav", b"RIFF"),
        ("pcm", "audio/pcm", b"\x00\x00"),
        ("opus", "audio/opus", b"OggS"),
    ],
)
def test_speech_bytes(
    client: openai.OpenAI, response_format: Any, content_type: str, prefix: bytes
) -> None:
    text = "x" * 31  # 3 s of audio
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=text, response_format=response_format
    ) as answer:
        data = answer.read()
        assert answer.headers["content-type"] == content_type
    assert data.startswith(prefix)
    expected = {"mp3": 6000, "opus": 6000, "pcm": 3 * 48000, "wav": 44 + 3 * 48000}
    assert len(data) == expected[response_format]


def test_speech_sse_with_usage(client: openai.OpenAI) -> None:
    text = "Hello from the fake speech endpoint"  # 35 characters: 3 s
    answer = client.post(
        "/audio/speech",
        body={
            "model": "gpt-4o-mini-tts",
            "voice": "coral",
            "input": text,
            "instructions": "calm",
            "stream_format": "sse",
            "response_format": "pcm",
        },
        cast_to=httpx.Response,
    )
    events = sse_events(answer.text)
    assert [name for name, _ in events] == ["speech.audio.delta"] * 3 + ["speech.audio.done"]
    audio = b"".join(base64.b64decode(event["audio"]) for _, event in events[:-1])
    assert audio == bytes(3 * 48000)
    usage = events[-1][1]["usage"]
    assert usage == {
        "input_tokens": tokens_of(text, "calm"),
        "output_tokens": 60,
        "total_tokens": tokens_of(text, "calm") + 60,
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input="x", stream_format="sse")
    assert caught.value.param == "stream_format"
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input="")
    assert caught.value.param == "input"


def test_whisper_transcription_formats(client: openai.OpenAI) -> None:
    raw = multipart(client, "/audio/transcriptions", model="whisper-1").json()
    answer = strict(Transcription, raw)
    assert answer.text == TEXT
    assert raw["usage"] == {"type": "duration", "seconds": 3}
    verbose = multipart(
        client, "/audio/transcriptions", model="whisper-1", response_format="verbose_json"
    ).json()
    assert verbose["task"] == "transcribe"
    parsed = strict(TranscriptionVerbose, verbose, frozenset({".task"}))
    assert (parsed.duration, parsed.language) == (3.0, "english")
    assert parsed.segments is not None
    assert parsed.segments[0].end == 3.0
    text = client.audio.transcriptions.create(model="whisper-1", file=AUDIO, response_format="text")
    assert text == TEXT + "\n"
    srt = client.audio.transcriptions.create(model="whisper-1", file=AUDIO, response_format="srt")
    assert srt == f"1\n00:00:00,000 --> 00:00:03,000\n{TEXT}\n\n"
    vtt = client.audio.transcriptions.create(model="whisper-1", file=AUDIO, response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\n")
    streamed = multipart(client, "/audio/transcriptions", model="whisper-1", stream="true")
    assert streamed.json()["text"] == TEXT, "whisper-1 ignores stream"


def test_token_model_transcription_and_stream(client: openai.OpenAI) -> None:
    answer = client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=AUDIO, prompt="names: Ada"
    )
    usage = answer.usage
    assert usage is not None
    assert usage.type == "tokens"
    assert usage.input_tokens == 30 + tokens_of("names: Ada")
    assert usage.input_token_details is not None
    assert usage.input_token_details.audio_tokens == 30
    assert usage.output_tokens == len(TEXT.split())
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=AUDIO, response_format="srt"
        )
    assert caught.value.param == "response_format"

    events = sse_events(
        multipart(
            client, "/audio/transcriptions", model="gpt-4o-mini-transcribe", stream="true"
        ).text
    )
    deltas = [strict(TranscriptionTextDeltaEvent, event) for name, event in events[:-1]]
    assert "".join(d.delta for d in deltas) == TEXT
    done = strict(TranscriptionTextDoneEvent, events[-1][1])
    assert done.text == TEXT
    assert done.usage is not None
    assert done.usage.output_tokens == len(deltas)
    sdk_events = list(
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=AUDIO, stream=True)
    )
    assert sdk_events[-1].type == "transcript.text.done"


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK deprecates the method
def test_translations(client: openai.OpenAI) -> None:
    raw = multipart(client, "/audio/translations", model="whisper-1").json()
    assert strict(Translation, raw).text == TEXT
    verbose = multipart(
        client, "/audio/translations", model="whisper-1", response_format="verbose_json"
    ).json()
    assert strict(TranslationVerbose, verbose, frozenset({".task"})).duration == 3.0
    assert "usage" not in verbose
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.translations.create(model="gpt-4o-transcribe", file=AUDIO)
    assert caught.value.param == "model"
    with pytest.raises(openai.BadRequestError) as caught:
        client.post(
            "/audio/transcriptions",
            body={"model": "whisper-1"},
            files=[("notfile", ("a.txt", b"x"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
            cast_to=httpx.Response,
        )
    assert caught.value.param == "file"
