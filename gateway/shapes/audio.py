"""Audio: ``POST /v1/audio/speech`` (text in, audio out) and transcriptions/translations
(an audio upload in, text out).

Prices come in three kinds, all in ``config/pricing.yaml``: per character
spoken (a ``character`` unit: tts-1), per second heard (an ``audio_second``
unit: whisper-1), or per token (text and audio tokens: the gpt-4o models).
Bounds: speech from its input's length (and ``speed``: slower is longer);
an upload from its size, read as the longest audio that many bytes can hold
at ``MIN_AUDIO_BYTES_PER_S`` (8 kbit/s, below any codec's speech quality).
A successful answer that reports no usage (raw audio bytes, a plain-text
transcript) is charged an estimate from the same figures, marked estimated:
never $0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest
from gateway.errors.wire import sse_responses
from gateway.metering.usage import Usage, _int, split_input
from gateway.policy.request import Applied
from gateway.pricing import ModelPrice
from gateway.quota.bound import Sizing, cost_bound
from gateway.shapes.endpoint import CreateRequest, Endpoint, Tap, model_and_stream, untouched
from gateway.shapes.form import file_sizes
from gateway.shapes.sse import UsageEventTap

MIN_AUDIO_BYTES_PER_S = 1_000  # 8 kbit/s: the most seconds a byte count can hold
AUDIO_TOKENS_PER_S = 25  # audio input tokens per second, generously (about 10 in practice)
TEXT_TOKENS_PER_S = 10  # transcript tokens per second of speech, generously
SPEECH_TOKENS_PER_CHAR = 4  # audio output tokens per input character, generously
CHARACTER, AUDIO_SECOND = "character", "audio_second"


# Speech ------------------------------------------------------------------------------------


def _parse_speech(body: dict[str, Any]) -> CreateRequest:
    model, _ = model_and_stream({"model": body.get("model")})
    text = body.get("input")
    if not isinstance(text, str):
        raise BadRequest("You must provide an input parameter.", param="input")
    return CreateRequest(model, stream=body.get("stream_format") == "sse")


def _speech_policy(
    body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool
) -> Applied:
    return untouched(len(str(body.get("input", ""))) * SPEECH_TOKENS_PER_CHAR * _slowdown(body))


def _slowdown(body: Mapping[str, Any]) -> int:
    """How many times longer than at normal speed the audio may be (``speed`` below 1)."""
    speed = body.get("speed")
    if isinstance(speed, int | float) and not isinstance(speed, bool) and 0 < speed < 1:
        return math.ceil(1 / speed)
    return 1


def _speech_bound(s: Sizing) -> int:
    chars = len(str(s.body.get("input", "")))
    tokens = cost_bound(s.price, input_tokens=len(s.raw), output_tokens=s.applied.cap)
    return tokens + chars * s.price.units.get(CHARACTER, 0)


def _speech_units(body: dict[str, Any], model: Model, price: ModelPrice) -> Mapping[str, int]:
    if CHARACTER not in price.units:
        return {}
    return {CHARACTER: len(str(body.get("input", "")))}


def _speech_estimate(body: dict[str, Any], model: Model, price: ModelPrice) -> Usage:
    if CHARACTER in price.units:
        return Usage()  # priced by its characters alone
    text = str(body.get("input", ""))
    return Usage(
        input_tokens=math.ceil(len(text.encode()) / 4),
        audio_output_tokens=len(text) * SPEECH_TOKENS_PER_CHAR,
    )


def _speech_usage(usage: Mapping[str, Any], _: Mapping[str, Any] | None) -> Usage:
    """``speech.audio.done``: text in, audio out."""
    return Usage(
        input_tokens=_int(usage, "input_tokens"), audio_output_tokens=_int(usage, "output_tokens")
    )


def _tap(strip_usage: bool) -> Tap:
    return UsageEventTap()


SPEECH = Endpoint(
    name="audio.speech",
    family="audio",
    upstream_path="/audio/speech",
    parse=_parse_speech,
    apply_policy=_speech_policy,
    usage=_speech_usage,
    bound=_speech_bound,
    units=_speech_units,
    estimate=_speech_estimate,
    bytes_out=True,
    new_tap=_tap,
    stream_error=sse_responses,
)


# Transcriptions and translations --------------------------------------------------------------


def _parse_upload(body: dict[str, Any]) -> CreateRequest:
    model, _ = model_and_stream({"model": body.get("model")})
    if not file_sizes(body, "file"):
        raise BadRequest("You must provide a file parameter.", param="file")
    return CreateRequest(model, stream=body.get("stream") == "true")


def _seconds(body: Mapping[str, Any]) -> int:
    """The most seconds of audio the upload can hold."""
    return math.ceil(sum(file_sizes(body, "file")) / MIN_AUDIO_BYTES_PER_S)


def _heard_policy(
    body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool
) -> Applied:
    return untouched(_seconds(body) * TEXT_TOKENS_PER_S)


def _heard_bound(s: Sizing) -> int:
    seconds = _seconds(s.body)
    prompt = len(str(s.body.get("prompt", "")).encode())
    tokens = seconds * AUDIO_TOKENS_PER_S + prompt
    by_tokens = cost_bound(s.price, input_tokens=tokens, output_tokens=s.applied.cap)
    return by_tokens + seconds * s.price.units.get(AUDIO_SECOND, 0)


def _heard_estimate(body: dict[str, Any], model: Model, price: ModelPrice) -> Usage:
    seconds = _seconds(body)
    if AUDIO_SECOND in price.units:
        return Usage(tool_calls={AUDIO_SECOND: seconds})
    return Usage(
        audio_input_tokens=seconds * AUDIO_TOKENS_PER_S,
        output_tokens=seconds * TEXT_TOKENS_PER_S,
    )


def _heard_usage(usage: Mapping[str, Any], _: Mapping[str, Any] | None) -> Usage:
    """``{"type": "duration", "seconds"}`` (per-second models) or ``{"type": "tokens", …}``."""
    if usage.get("type") == "duration":
        seconds = usage.get("seconds")
        counted = math.ceil(seconds) if isinstance(seconds, int | float) and seconds > 0 else 0
        return Usage(tool_calls={AUDIO_SECOND: counted})
    text_in, audio = split_input(usage, "input_token_details", "audio_tokens")
    return Usage(
        input_tokens=text_in,
        audio_input_tokens=audio,
        output_tokens=_int(usage, "output_tokens"),
    )


def _heard(name: str, path: str, *, streams: bool) -> Endpoint:
    return Endpoint(
        name=name,
        family="audio",
        upstream_path=path,
        parse=_parse_upload,
        apply_policy=_heard_policy,
        usage=_heard_usage,
        bound=_heard_bound,
        estimate=_heard_estimate,
        form=True,
        new_tap=_tap if streams else None,
        stream_error=sse_responses if streams else None,
    )


TRANSCRIPTIONS = _heard("audio.transcriptions", "/audio/transcriptions", streams=True)
TRANSLATIONS = _heard("audio.translations", "/audio/translations", streams=False)
