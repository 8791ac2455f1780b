"""The fake's Images API, driven with the official SDK and checked raw against its types:
generations (JSON), edits and variations (multipart, repeated ``image[]``), DALL·E and
gpt-image answers, token usage, and streamed partial images."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import orjson
import pytest
from fake_clients import tokens_of
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImagesResponse,
)

from fake_openai.conformance import strict
from fake_openai.image_plan import PNG_BYTES

PNG = ("in.png", PNG_BYTES, "image/png")


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in response.text.strip().split("\n\n"):
        name, data = frame.split("\n")
        events.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
    return events


def test_gpt_image_generation_usage(client: openai.OpenAI) -> None:
    prompt = "a lighthouse at dusk"
    raw = client.post(
        "/images/generations",
        body={
            "model": "gpt-image-1",
            "prompt": prompt,
            "n": 2,
            "size": "1024x1536",
            "quality": "low",
        },
        cast_to=httpx.Response,
    ).json()
    answer = strict(ImagesResponse, raw)
    assert answer.data is not None
    assert len(answer.data) == 2
    assert base64.b64decode(answer.data[0].b64_json or "") == PNG_BYTES
    assert (answer.size, answer.quality, answer.output_format, answer.background) == (
        "1024x1536",
        "low",
        "png",
        "opaque",
    )
    assert answer.usage is not None
    assert answer.usage.input_tokens_details.text_tokens == tokens_of(prompt)
    assert answer.usage.input_tokens_details.image_tokens == 0
    assert answer.usage.output_tokens == 2 * 408
    assert answer.usage.total_tokens == tokens_of(prompt) + 2 * 408
    auto = client.images.generate(model="gpt-image-1", prompt=prompt)
    assert (auto.quality, auto.size) == ("high", "1024x1024")
    assert auto.usage is not None
    assert auto.usage.output_tokens == 4160


def test_dall_e_generations(client: openai.OpenAI) -> None:
    two = strict(
        ImagesResponse,
        client.post(
            "/images/generations",
            body={"prompt": "cat", "n": 2, "size": "256x256"},
            cast_to=httpx.Response,
        ).json(),
    )
    assert two.usage is None
    assert two.data is not None
    assert all(image.url and image.url.endswith(".png") for image in two.data)
    three = client.images.generate(
        model="dall-e-3", prompt="cat", quality="hd", response_format="b64_json"
    )
    assert three.data is not None
    assert three.data[0].revised_prompt == "cat"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="cat", n=2)
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1", prompt="cat", response_format="url")
    assert caught.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-2", prompt="cat", size="1536x1024")
    assert caught.value.param == "size"


def test_edits_count_input_images(client: openai.OpenAI) -> None:
    edited = client.images.edit(
        model="gpt-image-1", image=[PNG, PNG], mask=PNG, prompt="add a hat", quality="medium"
    )
    assert edited.usage is not None
    assert edited.usage.input_tokens_details.image_tokens == 3 * 85
    assert edited.usage.input_tokens_details.text_tokens == tokens_of("add a hat")
    assert edited.usage.output_tokens == 1056
    single = client.images.edit(image=PNG, prompt="hat", response_format="b64_json")
    assert single.usage is None
    assert single.data is not None
    assert single.data[0].b64_json
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(image=PNG, prompt="")
    assert caught.value.param == "prompt"


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK deprecates the method
def test_variations(client: openai.OpenAI) -> None:
    varied = client.images.create_variation(image=PNG, n=3, size="512x512")
    assert varied.data is not None
    assert len(varied.data) == 3
    with pytest.raises(openai.BadRequestError):
        client.images.create_variation(image=PNG, model="gpt-image-1")


def test_streamed_partial_images(client: openai.OpenAI) -> None:
    response = client.post(
        "/images/generations",
        body={
            "model": "gpt-image-1",
            "prompt": "sun",
            "stream": True,
            "partial_images": 2,
            "quality": "low",
        },
        cast_to=httpx.Response,
    )
    events = sse_events(response)
    assert [name for name, _ in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [strict(ImageGenPartialImageEvent, e).partial_image_index for _, e in events[:2]] == [
        0,
        1,
    ]
    done = strict(ImageGenCompletedEvent, events[-1][1])
    assert done.usage.output_tokens == 272 + 2 * 100

    stream = client.images.edit(
        image=PNG, model="gpt-image-1", prompt="sun", stream=True, partial_images=1
    )
    kinds = [event.type for event in stream]
    assert kinds == ["image_edit.partial_image", "image_edit.completed"]
    raw = client.post(
        "/images/edits",
        body={"model": "gpt-image-1", "prompt": "sun", "stream": "true", "partial_images": "1"},
        files=[("image", PNG)],
        options={"headers": {"Content-Type": "multipart/form-data"}},
        cast_to=httpx.Response,
    )
    partial, completed = sse_events(raw)
    strict(ImageEditPartialImageEvent, partial[1])
    assert (
        strict(ImageEditCompletedEvent, completed[1]).usage.input_tokens_details.image_tokens == 85
    )
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="dall-e-2", prompt="x", stream=True)
