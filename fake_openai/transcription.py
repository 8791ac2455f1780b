"""``POST /v1/audio/transcriptions`` and ``/translations``: multipart ``file``, ``model``,
``response_format`` (``json``, ``text``, ``srt``, ``verbose_json``, ``vtt``), ``prompt``,
``stream``.

Deterministic: an upload lasts one second per 16 000 bytes, rounded up (at least 1 s), and its
transcript is ``Fake transcript of N seconds of audio.``. whisper-1 reports
``usage: {"type": "duration", "seconds": N}`` on transcriptions (translations carry no usage)
and ignores ``stream``; the gpt-4o transcribe models answer only ``json`` or ``text`` and
report ``usage: {"type": "tokens", …}``: 10 input audio tokens a second plus the ``prompt``'s
text tokens (prompt rule), one output token per transcript word; with ``stream`` they send a
``transcript.text.delta`` per word and ``transcript.text.done`` with the text and the usage.
"""

from __future__ import annotations

import math

from aiohttp import web

from fake_openai.encoding import sse
from fake_openai.generation import Prompt, split_deltas
from fake_openai.multipart import Form, read_form
from fake_openai.state import FakeState
from fake_openai.transport import reply_bytes, reply_json, reply_stream
from fake_openai.wire import ApiError, JsonObject

AUDIO_PATH = "/v1/audio"
UPLOAD_BYTES_PER_SECOND = 16_000
AUDIO_TOKENS_PER_SECOND = 10
WHISPER_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
TOKEN_MODEL_FORMATS = ("json", "text")


def upload_seconds(nbytes: int) -> int:
    """The duration the fake hears in an upload of ``nbytes``."""
    return max(1, math.ceil(nbytes / UPLOAD_BYTES_PER_SECOND))


def transcript_text(seconds: int) -> str:
    return f"Fake transcript of {seconds} seconds of audio."


def token_usage(seconds: int, prompt: str | None, text: str) -> JsonObject:
    audio = AUDIO_TOKENS_PER_SECOND * seconds
    prompt_tokens = Prompt([prompt]).tokens if prompt else 0
    output = len(split_deltas(text))
    return {
        "type": "tokens",
        "input_tokens": audio + prompt_tokens,
        "input_token_details": {"text_tokens": prompt_tokens, "audio_tokens": audio},
        "output_tokens": output,
        "total_tokens": audio + prompt_tokens + output,
    }


def _timestamp(seconds: int, separator: str) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}{separator}000"


def subtitles(text: str, seconds: int, response_format: str) -> str:
    """The one-cue ``srt`` or ``vtt`` document for a transcript."""
    if response_format == "srt":
        return f"1\n{_timestamp(0, ',')} --> {_timestamp(seconds, ',')}\n{text}\n\n"
    return f"WEBVTT\n\n{_timestamp(0, '.')} --> {_timestamp(seconds, '.')}\n{text}\n\n"


def verbose(task: str, text: str, seconds: int) -> JsonObject:
    """The ``verbose_json`` body: one segment spanning the whole upload."""
    segment: JsonObject = {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": float(seconds),
        "text": text,
        "tokens": list(range(50364, 50364 + len(text.split()))),
        "temperature": 0.0,
        "avg_logprob": -0.2,
        "compression_ratio": 1.0,
        "no_speech_prob": 0.01,
    }
    body: JsonObject = {
        "task": task,
        "language": "english",
        "duration": float(seconds),
        "text": text,
        "segments": [segment],
    }
    if task == "transcribe":
        body["usage"] = {"type": "duration", "seconds": seconds}
    return body


def _read(form: Form, translation: bool) -> tuple[str, str, int]:
    """``(model, response_format, seconds)`` of a valid form."""
    upload = form.require_file("file")
    model = form.require_text("model")
    whisper = model.startswith("whisper")
    if translation and not whisper:
        raise ApiError(400, f"Model '{model}' is not supported for translations.", param="model")
    allowed = WHISPER_FORMATS if whisper else TOKEN_MODEL_FORMATS
    response_format = form.text("response_format") or "json"
    if response_format not in allowed:
        raise ApiError(
            400,
            f"response_format '{response_format}' is not compatible with model '{model}'. "
            f"Use {' or '.join(allowed)}.",
            param="response_format",
            code="unsupported_value",
        )
    return model, response_format, upload_seconds(len(upload.data))


class TranscriptionApi:
    """The speech-to-text routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(AUDIO_PATH + "/transcriptions", self._transcribe)
        router.add_post(AUDIO_PATH + "/translations", self._translate)

    async def _transcribe(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, translation=False)

    async def _translate(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, translation=True)

    async def _answer(self, request: web.Request, *, translation: bool) -> web.StreamResponse:
        form = await read_form(request)
        model, response_format, seconds = _read(form, translation)
        text = transcript_text(seconds)
        whisper = model.startswith("whisper")
        usage: JsonObject | None = None
        if not translation:
            usage = (
                {"type": "duration", "seconds": seconds}
                if whisper
                else token_usage(seconds, form.text("prompt"), text)
            )
        if form.text("stream") == "true" and not whisper:
            events: list[JsonObject] = [
                {"type": "transcript.text.delta", "delta": delta} for delta in split_deltas(text)
            ]
            events.append({"type": "transcript.text.done", "text": text, "usage": usage})
            frames = [sse(event, named=True) for event in events]
            return await reply_stream(self._state, request, frames)
        if response_format == "json":
            body: JsonObject = {"text": text}
            if usage is not None:
                body["usage"] = usage
            return await reply_json(self._state, request, body)
        if response_format == "verbose_json":
            task = "translate" if translation else "transcribe"
            return await reply_json(self._state, request, verbose(task, text, seconds))
        document = (
            text + "\n" if response_format == "text" else subtitles(text, seconds, response_format)
        )
        return await reply_bytes(
            self._state, request, document.encode(), "text/plain; charset=utf-8"
        )
