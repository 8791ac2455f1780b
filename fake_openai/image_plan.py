"""What an image request asks for and what it costs, deterministically.

Every image is the same 1x1 transparent PNG. gpt-image models (``gpt-image-…``) answer
``b64_json`` with ``usage``: input text tokens by the prompt rule (a quarter of the UTF-8
bytes, at least 1), 85 input image tokens per input image or mask, and output image tokens
per image by quality and size as OpenAI's table has them (low 272/408/400, medium
1056/1584/1568, high 4160/6240/6208 for 1024x1024/1024x1536/1536x1024; ``auto`` quality is
high, ``auto`` size 1024x1024), plus 100 per partial image streamed. DALL·E models answer
``url`` (default) or ``b64_json`` and report no usage.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from fake_openai.generation import Prompt
from fake_openai.wire import ApiError, JsonObject, missing_parameter

PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII="
)
PNG_BYTES = base64.b64decode(PNG_B64)
INPUT_IMAGE_TOKENS = 85
PARTIAL_IMAGE_TOKENS = 100
OUTPUT_TOKENS: dict[str, dict[str, int]] = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
SIZES: dict[str, tuple[str, ...]] = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "gpt-image": ("auto", "1024x1024", "1536x1024", "1024x1536"),
}
QUALITIES: dict[str, tuple[str, ...]] = {
    "dall-e-2": ("standard",),
    "dall-e-3": ("standard", "hd"),
    "gpt-image": ("auto", "low", "medium", "high"),
}


def family(model: str) -> str:
    """``gpt-image``, ``dall-e-3`` or ``dall-e-2`` (anything unknown behaves as dall-e-2)."""
    if model.startswith("gpt-image"):
        return "gpt-image"
    return "dall-e-3" if model.startswith("dall-e-3") else "dall-e-2"


@dataclass
class ImagePlan:
    """One image request, validated, with its answer's settings and usage."""

    model: str
    n: int
    size: str
    quality: str
    response_format: str
    partial_images: int
    stream: bool
    prompt: str
    input_images: int

    @property
    def token_priced(self) -> bool:
        return family(self.model) == "gpt-image"

    def usage(self) -> JsonObject:
        text = Prompt([self.prompt]).tokens if self.prompt else 0
        image = INPUT_IMAGE_TOKENS * self.input_images
        per_image = OUTPUT_TOKENS[self.quality][self.size]
        output = self.n * (per_image + PARTIAL_IMAGE_TOKENS * self.partial_images)
        return {
            "input_tokens": text + image,
            "input_tokens_details": {"text_tokens": text, "image_tokens": image},
            "output_tokens": output,
            "total_tokens": text + image + output,
        }


def _choice(fields: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name)
    if value is None:
        return default
    if value not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise ApiError(
            400,
            f"Invalid value: '{value}'. Supported values are: {listed}.",
            param=name,
            code="invalid_value",
        )
    return str(value)


def _int(fields: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = fields.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            400,
            f"Invalid '{name}': expected an integer between {low} and {high}.",
            param=name,
            code="integer_out_of_range",
        )
    return value


def plan_images(
    fields: dict[str, Any], default_model: str, *, input_images: int, needs_prompt: bool
) -> ImagePlan:
    """Validate a request's fields (JSON, or multipart text fields) into an ``ImagePlan``."""
    model = str(fields.get("model") or default_model)
    kind = family(model)
    prompt = fields.get("prompt")
    if needs_prompt and (not isinstance(prompt, str) or not prompt):
        raise missing_parameter("prompt")
    n = _int(fields, "n", 1, 1, 1 if kind == "dall-e-3" else 10)
    size = _choice(fields, "size", SIZES[kind], "1024x1024")
    quality = _choice(fields, "quality", QUALITIES[kind], QUALITIES[kind][0])
    formats = ("b64_json",) if kind == "gpt-image" else ("url", "b64_json")
    response_format = _choice(fields, "response_format", formats, formats[0])
    stream = fields.get("stream") in (True, "true")
    if stream and (kind != "gpt-image" or n != 1):
        raise ApiError(
            400, "Streaming is only supported for gpt-image models with n=1.", param="stream"
        )
    partial = _int(fields, "partial_images", 0, 0, 3) if stream else 0
    return ImagePlan(
        model,
        n,
        "1024x1024" if size == "auto" else size,
        "high" if quality == "auto" else quality,
        response_format,
        partial,
        stream,
        prompt if isinstance(prompt, str) else "",
        input_images,
    )
