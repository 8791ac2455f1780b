"""Request-body fields that several APIs read alike, validated with OpenAI's messages."""

from __future__ import annotations

import re
from typing import Any

from fake_openai.wire import ApiError, JsonObject, missing_parameter

# Text models the fake answers on Responses and Chat (a dated name, `gpt-5-2025-08-07`, counts
# as its model): an unknown one gets OpenAI's 404 `model_not_found`, as clients expect.
TEXT_MODELS = frozenset({
    "gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5", "gpt-5-mini", "gpt-5-nano",
    "gpt-5-chat-latest", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini",
    "o1", "o3", "o3-mini", "o4-mini",
})  # fmt: skip
_DATED = re.compile(r"^(.*)-\d{4}-\d{2}-\d{2}$")


def require_text_model(payload: JsonObject) -> str:
    """The body's ``model`` if the fake answers it in text, else the 404 OpenAI gives."""
    model = require_model(payload)
    dated = _DATED.match(model)
    if model not in TEXT_MODELS and not (dated and dated[1] in TEXT_MODELS):
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return model


def require_model(payload: JsonObject) -> str:
    """The body's ``model``, or the 400 for a missing one."""
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise missing_parameter("model")
    return model


def optional_int(payload: JsonObject, name: str, *, minimum: int) -> int | None:
    """The integer field ``name`` if present, at least ``minimum``."""
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(
            400,
            f"Invalid type for '{name}': expected an integer, but got "
            f"{type(value).__name__} instead.",
            param=name,
            code="invalid_type",
        )
    if value < minimum:
        raise ApiError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value


def echo_service_tier(requested: Any) -> str:
    """The tier an answer reports: the one actually used, not the one asked for."""
    # "auto" resolves to "default", "fast" is "priority".
    if requested in (None, "auto", "default"):
        return "default"
    if requested == "fast":
        return "priority"
    return str(requested)


def message_parts_text(content: Any) -> list[str]:
    """Pull the text out of a message ``content`` (string, or list of text-bearing parts)."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


def check_metadata(raw: Any) -> JsonObject | None:
    """``metadata``: at most 16 string pairs (keys up to 64, values up to 512 characters)."""
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or len(raw) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
            for k, v in raw.items()
        )
    ):
        raise ApiError(
            400,
            "Invalid 'metadata': expected an object of at most 16 string pairs.",
            param="metadata",
            code="invalid_value",
        )
    return dict(raw)
