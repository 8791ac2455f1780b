"""Request-body fields that several APIs read alike, validated with OpenAI's messages."""

from __future__ import annotations

from typing import Any

from fake_openai.wire import ApiError, JsonObject, missing_parameter


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
