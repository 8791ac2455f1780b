"""Every request field that makes the output longer is in the output side of the bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from gateway.config.runtime import Model, Policy
from gateway.policy.request import Applied
from gateway.pricing import load_pricing
from gateway.quota.bound import Sizing, admission_bound
from gateway.shapes.audio import SPEECH
from gateway.shapes.images import IMAGES_GENERATE

TABLE = load_pricing(Path(__file__).resolve().parents[2] / "config" / "pricing.yaml")
POLICY = Policy(enabled=True, allowed_models=frozenset({"*"}))


def test_partial_images_add_their_output_tokens_per_image() -> None:
    model = Model("gpt-image-1", "openai", "gpt-image-1", max_output_tokens=6240)
    body: dict[str, Any] = {"prompt": "a cat", "n": 1}
    plain = IMAGES_GENERATE.apply_policy(body, POLICY, model, "t", False)
    streamed = IMAGES_GENERATE.apply_policy(
        {**body, "stream": True, "partial_images": 3}, POLICY, model, "t", True
    )
    form = IMAGES_GENERATE.apply_policy({**body, "partial_images": "2"}, POLICY, model, "t", False)
    assert (plain.cap, streamed.cap, form.cap) == (6240, 6540, 6440)


def test_a_slower_speech_speed_makes_a_longer_answer() -> None:
    model = Model("gpt-4o-mini-tts", "openai", "gpt-4o-mini-tts")
    body: dict[str, Any] = {"input": "hello", "voice": "alloy"}
    normal = SPEECH.apply_policy(dict(body), POLICY, model, "t", False).cap
    slow = SPEECH.apply_policy({**body, "speed": 0.25}, POLICY, model, "t", False).cap
    fast = SPEECH.apply_policy({**body, "speed": 4.0}, POLICY, model, "t", False).cap
    assert (slow, fast) == (4 * normal, normal)


def test_a_chat_prediction_is_billed_as_output_when_rejected() -> None:
    model = Model("gpt-4.1", "openai", "gpt-4.1")
    price = TABLE.price_for("gpt-4.1")
    assert price is not None
    assert price.output is not None
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "edit"}]}
    predicted = {**body, "prediction": {"type": "content", "content": "x = 1\n" * 200}}
    applied = Applied(50, "set", frozenset(), None, True, False, choices=2, tiers=frozenset())

    def bound(b: dict[str, Any]) -> int:
        raw = orjson.dumps(b)
        return admission_bound(Sizing(raw, b, model, price, applied, TABLE))

    raw = orjson.dumps(predicted)
    plain_raw = orjson.dumps(body)
    assert bound(body) == len(plain_raw) * price.input + 2 * 50 * price.output
    assert bound(predicted) == len(raw) * price.input + 2 * (50 + len(raw)) * price.output
