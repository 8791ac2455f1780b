"""``POST /v1/audio/speech``: text in, audio bytes out, or with ``stream_format: "sse"``
(gpt-4o-mini-tts family) ``speech.audio.delta`` events and a ``speech.audio.done`` event
carrying the usage.

Deterministic: the audio is silence lasting one second per 15 characters of input (rounded up,
at least 1 s). ``pcm`` is PCM16 mono 24 kHz, ``wav`` the same with a WAV header; ``mp3``,
``opus``, ``aac`` and ``flac`` are 2000 bytes a second of a stand-in payload (the format's
magic bytes, then zeros). Token-priced models report input tokens by the prompt rule (input
plus ``instructions``) and 20 output audio tokens per second; tts-1 and tts-1-hd (priced per
character) report none.
"""

from __future__ import annotations

import base64
import math
import struct

from aiohttp import web

from fake_openai.encoding import sse
from fake_openai.generation import Prompt
from fake_openai.params import require_model
from fake_openai.realtime_audio import AUDIO_BYTES_PER_SECOND, SAMPLE_RATE
from fake_openai.state import FakeState
from fake_openai.transport import read_payload, reply_bytes, reply_stream
from fake_openai.wire import ApiError, JsonObject, missing_parameter

SPEECH_PATH = "/v1/audio/speech"
CHARS_PER_SECOND = 15
OUTPUT_TOKENS_PER_SECOND = 20
STANDIN_BYTES_PER_SECOND = 2000
MAX_INPUT_CHARS = 4096
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
MAGIC = {"mp3": b"ID3", "opus": b"OggS", "aac": b"\xff\xf1", "flac": b"fLaC"}


def speech_seconds(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_SECOND))


def speech_audio(text: str, response_format: str) -> bytes:
    """The audio for ``text`` in ``response_format``."""
    seconds = speech_seconds(text)
    if response_format in ("pcm", "wav"):
        pcm = bytes(seconds * AUDIO_BYTES_PER_SECOND)
        if response_format == "pcm":
            return pcm
        header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
        header += struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, AUDIO_BYTES_PER_SECOND, 2, 16)
        return header + b"data" + struct.pack("<I", len(pcm)) + pcm
    magic = MAGIC[response_format]
    return magic + bytes(seconds * STANDIN_BYTES_PER_SECOND - len(magic))


def is_token_priced(model: str) -> bool:
    return not model.startswith("tts-1")


def speech_usage(text: str, instructions: str | None) -> JsonObject:
    input_tokens = Prompt([text, *([instructions] if instructions else [])]).tokens
    output_tokens = OUTPUT_TOKENS_PER_SECOND * speech_seconds(text)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def _check(payload: JsonObject) -> tuple[str, str, str]:
    """``(model, input, response_format)`` of a valid body."""
    model = require_model(payload)
    text = payload.get("input")
    if not isinstance(text, str) or not text:
        raise missing_parameter("input")
    if len(text) > MAX_INPUT_CHARS:
        raise ApiError(
            400,
            f"Invalid 'input': string too long. Expected a string with maximum length "
            f"{MAX_INPUT_CHARS}, but got a string with length {len(text)} instead.",
            param="input",
            code="string_above_max_length",
        )
    if payload.get("voice") in (None, ""):
        raise missing_parameter("voice")
    response_format = payload.get("response_format", "mp3")
    if not isinstance(response_format, str) or response_format not in CONTENT_TYPES:
        raise ApiError(
            400,
            f"Invalid value: '{response_format}'. Supported values are: 'mp3', 'opus', "
            "'aac', 'flac', 'wav' and 'pcm'.",
            param="response_format",
            code="invalid_value",
        )
    return model, text, str(response_format)


class SpeechApi:
    """The text-to-speech route."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(SPEECH_PATH, self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        model, text, response_format = _check(payload)
        audio = speech_audio(text, response_format)
        stream_format = payload.get("stream_format", "audio")
        if stream_format == "audio":
            content_type = CONTENT_TYPES[response_format]
            return await reply_bytes(self._state, request, audio, content_type)
        if stream_format != "sse" or not is_token_priced(model):
            raise ApiError(
                400,
                f"Unsupported stream_format '{stream_format}' for model '{model}'.",
                param="stream_format",
                code="invalid_value",
            )
        step = max(1, len(audio) // speech_seconds(text))
        events: list[JsonObject] = [
            {"type": "speech.audio.delta", "audio": base64.b64encode(audio[i : i + step]).decode()}
            for i in range(0, len(audio), step)
        ]
        instructions = payload.get("instructions")
        usage = speech_usage(text, instructions if isinstance(instructions, str) else None)
        events.append({"type": "speech.audio.done", "usage": usage})
        return await reply_stream(self._state, request, [sse(e, named=True) for e in events])
