"""Images and audio are metered by what they are priced by: tokens, characters or seconds.

Pure functions of a request and an answer: bounds that hold, usage that
matches the answer, and an estimate (never $0) when the answer reports none.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from gateway.config.runtime import Model, Policy
from gateway.metering.outcome import Outcome, measure
from gateway.metering.usage import Usage
from gateway.pricing import cost_of
from gateway.pricing.table import EMPTY as PRICES
from gateway.pricing.table import ModelPrice
from gateway.quota.bound import Sizing
from gateway.shapes.audio import (
    AUDIO_SECOND,
    CHARACTER,
    MIN_AUDIO_BYTES_PER_S,
    SPEECH,
    TRANSCRIPTIONS,
)
from gateway.shapes.endpoint import Endpoint
from gateway.shapes.form import parse_form
from gateway.shapes.images import IMAGE_INPUT_TOKENS, IMAGES_EDIT, IMAGES_GENERATE

OUTPUT, IMAGE_INPUT = 40_000, 10_000  # nano-USD per token
TOKENS = ModelPrice(input=5_000, cached_input=1_250, output=OUTPUT, image_input=IMAGE_INPUT)
POLICY = Policy(enabled=True, allowed_models=frozenset())
PER_CHAR = ModelPrice(input=0, cached_input=0, output=None, units={CHARACTER: 15_000})
PER_SECOND = ModelPrice(input=0, cached_input=0, output=None, units={AUDIO_SECOND: 100_000})
AUDIO_TOKENS = ModelPrice(input=2_500, cached_input=2_500, output=10_000, audio_input=6_000)


def units_of(
    endpoint: Endpoint, body: dict[str, object], model: Model, price: ModelPrice
) -> Mapping[str, int]:
    assert endpoint.units is not None
    return endpoint.units(body, model, price)


def estimate_of(
    endpoint: Endpoint, body: dict[str, object], model: Model, price: ModelPrice
) -> Usage:
    assert endpoint.estimate is not None
    return endpoint.estimate(body, model, price)


def bound(
    endpoint: Endpoint, body: dict[str, object], raw: bytes, model: Model, price: ModelPrice
) -> int:
    applied = endpoint.apply_policy(body, POLICY, model, "t", False)
    return endpoint.bound(Sizing(raw, body, model, price, applied, PRICES))


def form(
    files: dict[str, tuple[str, bytes]], data: dict[str, str]
) -> tuple[dict[str, object], bytes]:
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    raw = request.read()
    return parse_form(raw, request.headers["content-type"]).body(), raw


def test_an_image_call_is_bounded_by_n_images_at_the_models_own_limit() -> None:
    model = Model(
        name="gpt-image-1", upstream="openai", upstream_model="gpt-image-1", max_output_tokens=6240
    )
    body: dict[str, object] = {"model": "gpt-image-1", "prompt": "a cat", "n": 3}
    reserved = bound(IMAGES_GENERATE, body, b"", model, TOKENS)
    assert reserved >= 3 * 6240 * OUTPUT
    # The answer's usage: text and image input apart, output at the output price.
    answer = {
        "created": 1,
        "data": [{}, {}, {}],
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
            "output_tokens": 3 * 4160,
            "total_tokens": 50 + 3 * 4160,
        },
    }
    measured = measure(IMAGES_GENERATE, Outcome(status=200, body=answer), 100)
    usage = measured.usage
    assert (usage.input_tokens, usage.image_input_tokens, usage.output_tokens) == (10, 40, 12480)
    assert cost_of(usage, TOKENS, {}).nanos <= reserved


def test_an_edit_bounds_each_input_image_not_its_bytes() -> None:
    model = Model(
        name="gpt-image-1", upstream="openai", upstream_model="gpt-image-1", max_output_tokens=6240
    )
    body, raw = form(
        {"image": ("a.png", b"\x89PNG" + b"0" * 200_000)},
        {"model": "gpt-image-1", "prompt": "add a hat"},
    )
    reserved = bound(IMAGES_EDIT, body, raw, model, TOKENS)
    assert reserved >= IMAGE_INPUT_TOKENS * IMAGE_INPUT
    assert reserved < 200_000 * IMAGE_INPUT


def test_speech_priced_per_character_charges_its_characters() -> None:
    model = Model(name="tts-1", upstream="openai", upstream_model="tts-1")
    body: dict[str, object] = {"model": "tts-1", "input": "hello there", "voice": "alloy"}
    reserved = bound(SPEECH, body, b"{}", model, PER_CHAR)
    units = units_of(SPEECH, body, model, PER_CHAR)
    # The answer is audio bytes: no usage, yet the characters are charged.
    measured = measure(
        SPEECH, Outcome(status=200), 10, units, estimate_of(SPEECH, body, model, PER_CHAR)
    )
    cost = cost_of(measured.usage, PER_CHAR, {})
    assert cost.nanos == len("hello there") * 15_000
    assert cost.complete
    assert cost.nanos <= reserved


def test_token_priced_speech_without_usage_is_estimated_not_free() -> None:
    model = Model(name="gpt-4o-mini-tts", upstream="openai", upstream_model="gpt-4o-mini-tts")
    price = ModelPrice(input=600, cached_input=600, output=None, audio_output=12_000)
    body: dict[str, object] = {
        "model": "gpt-4o-mini-tts",
        "input": "a sentence to say",
        "voice": "alloy",
    }
    fallback = estimate_of(SPEECH, body, model, price)
    measured = measure(SPEECH, Outcome(status=200), 40, {}, fallback)
    assert measured.estimated
    assert measured.outcome == "completed"
    assert (
        0 < cost_of(measured.usage, price, {}).nanos <= bound(SPEECH, body, b"x" * 40, model, price)
    )


def test_a_failed_call_is_not_charged_its_units() -> None:
    model = Model(name="tts-1", upstream="openai", upstream_model="tts-1")
    body: dict[str, object] = {"model": "tts-1", "input": "hello", "voice": "alloy"}
    units = units_of(SPEECH, body, model, PER_CHAR)
    measured = measure(
        SPEECH, Outcome(status=500), 10, units, estimate_of(SPEECH, body, model, PER_CHAR)
    )
    assert measured.usage.tool_calls == {}
    assert measured.outcome == "upstream_error"


def test_a_transcription_is_bounded_by_the_longest_audio_its_bytes_hold() -> None:
    model = Model(name="whisper-1", upstream="openai", upstream_model="whisper-1")
    body, raw = form({"file": ("a.mp3", b"0" * 64_000)}, {"model": "whisper-1"})
    seconds = 64_000 // MIN_AUDIO_BYTES_PER_S
    reserved = bound(TRANSCRIPTIONS, body, raw, model, PER_SECOND)
    assert reserved >= seconds * 100_000
    # whisper-1 reports seconds heard.
    answer = {"text": "hi", "usage": {"type": "duration", "seconds": 12.2}}
    measured = measure(TRANSCRIPTIONS, Outcome(status=200, body=answer), len(raw))
    assert measured.usage.tool_calls == {AUDIO_SECOND: 13}
    assert cost_of(measured.usage, PER_SECOND, {}).nanos == 13 * 100_000 <= reserved


def test_token_transcriptions_split_audio_from_text() -> None:
    answer = {
        "text": "hi",
        "usage": {
            "type": "tokens",
            "input_tokens": 120,
            "input_token_details": {"text_tokens": 20, "audio_tokens": 100},
            "output_tokens": 7,
            "total_tokens": 127,
        },
    }
    usage = measure(TRANSCRIPTIONS, Outcome(status=200, body=answer), 10).usage
    assert (usage.input_tokens, usage.audio_input_tokens, usage.output_tokens) == (20, 100, 7)


def test_a_plain_text_transcript_is_estimated_from_the_upload() -> None:
    model = Model(name="whisper-1", upstream="openai", upstream_model="whisper-1")
    body, raw = form(
        {"file": ("a.mp3", b"0" * 5_000)}, {"model": "whisper-1", "response_format": "text"}
    )
    fallback = estimate_of(TRANSCRIPTIONS, body, model, PER_SECOND)
    measured = measure(TRANSCRIPTIONS, Outcome(status=200), len(raw), {}, fallback)
    assert measured.estimated
    assert measured.usage.tool_calls == {AUDIO_SECOND: 5}
