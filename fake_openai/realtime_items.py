"""Conversation items a Realtime client sends (``conversation.item.create``, ``response.input``):
checked and echoed the way the server echoes them, audio left out and only its size kept."""

from __future__ import annotations

from typing import Any

from fake_openai.realtime_audio import decode_audio
from fake_openai.realtime_session import Item, item_id
from fake_openai.wire import ApiError, JsonObject, new_id

PART_TYPES: dict[str, frozenset[str]] = {
    "user": frozenset({"input_text", "input_audio", "input_image"}),
    "system": frozenset({"input_text"}),
    "assistant": frozenset({"output_text", "output_audio"}),
}
"""The content part types each message role may carry."""


def make_item(raw: Any, param: str) -> Item:
    """The item ``raw`` describes; ``param`` names it in errors (e.g. ``response.input[0]``)."""
    if not isinstance(raw, dict):
        raise ApiError(400, f"Invalid type for '{param}': expected an object.", param=param)
    kind = raw.get("type", "message")
    new_item_id = raw.get("id") if isinstance(raw.get("id"), str) else item_id()
    base = {"id": new_item_id, "type": kind, "object": "realtime.item", "status": "completed"}
    if kind == "function_call":
        return Item(
            {
                **base,
                "call_id": raw.get("call_id") or new_id("call_", 12),
                "name": raw.get("name"),
                "arguments": raw.get("arguments") or "",
            }
        )
    if kind == "function_call_output":
        return Item({**base, "call_id": raw.get("call_id"), "output": raw.get("output") or ""})
    if kind != "message":
        raise ApiError(
            400,
            f"Invalid value for '{param}.type': {kind!r}.",
            param=f"{param}.type",
            code="invalid_value",
        )
    role = raw.get("role")
    if role not in PART_TYPES:
        raise ApiError(
            400,
            f"Invalid value for '{param}.role': {role!r}.",
            param=f"{param}.role",
            code="invalid_value",
        )
    content = raw.get("content")
    if not isinstance(content, list):
        raise ApiError(
            400,
            f"Invalid type for '{param}.content': expected an array.",
            param=f"{param}.content",
            code="invalid_type",
        )
    echoed, audio = _content(role, content, param)
    return Item({**base, "role": role, "content": echoed}, audio)


def _content(role: str, content: list[Any], param: str) -> tuple[list[JsonObject], dict[int, int]]:
    """The echoed content parts of a message, and the PCM16 size of each audio part."""
    echoed: list[JsonObject] = []
    audio: dict[int, int] = {}
    for index, part in enumerate(content):
        where = f"{param}.content[{index}]"
        ptype = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict) or ptype not in PART_TYPES[role]:
            raise ApiError(
                400,
                f"Invalid value for '{where}.type': {ptype!r} is not allowed in a {role} message.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if ptype in ("input_audio", "output_audio"):
            pcm = decode_audio(part["audio"], f"{where}.audio") if "audio" in part else b""
            audio[index] = len(pcm)
            echoed.append({"type": ptype, "transcript": part.get("transcript")})
        elif ptype == "input_image":
            echoed.append(dict(part))
        else:
            text = part.get("text")
            if not isinstance(text, str):
                raise ApiError(
                    400,
                    f"Invalid type for '{where}.text': expected a string.",
                    param=f"{where}.text",
                    code="invalid_type",
                )
            echoed.append({"type": ptype, "text": text})
    return echoed, audio
