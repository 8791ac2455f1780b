"""The fake's moderations, driven with the official SDK and checked raw against its types:
the deterministic flag, per-input results, multimodal parts and the model default."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai.types import ModerationCreateResponse

from fake_openai.conformance import strict


def raw_moderation(client: openai.OpenAI, **body: Any) -> dict[str, Any]:
    raw: dict[str, Any] = client.post("/moderations", body=body, cast_to=httpx.Response).json()
    return raw


def test_text_flagged_only_for_kill(client: openai.OpenAI) -> None:
    raw = raw_moderation(client, input=["I will KILL the process", "have a nice day"])
    answer = strict(ModerationCreateResponse, raw)
    assert answer.id.startswith("modr-")
    assert answer.model == "omni-moderation-2024-09-26"
    flagged, clean = answer.results
    assert flagged.flagged
    assert not clean.flagged
    assert flagged.categories.violence
    assert flagged.categories.harassment_threatening
    assert not flagged.categories.hate
    assert flagged.category_scores.violence > 0.5 > flagged.category_scores.hate
    assert not any(raw["results"][1]["categories"].values())
    assert max(raw["results"][1]["category_scores"].values()) < 0.001
    assert flagged.category_applied_input_types.violence == ["text"]


def test_same_input_same_scores(client: openai.OpenAI) -> None:
    first = raw_moderation(client, input="hello", model="text-moderation-latest")
    second = raw_moderation(client, input="hello", model="text-moderation-latest")
    assert first["model"] == "text-moderation-007"
    assert first["results"] == second["results"]


def test_multimodal_parts_make_one_result(client: openai.OpenAI) -> None:
    parts: list[Any] = [
        {"type": "text", "text": "kill it"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    answer = client.moderations.create(model="omni-moderation-latest", input=parts)
    (result,) = answer.results
    assert result.flagged
    applied = result.category_applied_input_types
    assert applied.violence == ["image", "text"]
    assert applied.hate == ["text"]


def test_text_model_refuses_images(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.moderations.create(
            model="text-moderation-latest",
            input=[{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],  # type: ignore[arg-type]
        )
    assert caught.value.param == "input"
    with pytest.raises(openai.BadRequestError):
        client.post("/moderations", body={"input": 3}, cast_to=httpx.Response)
