"""Where a Responses or Chat request keeps the text a person or a tool wrote.

Every string the upstream reads as input: ``instructions``, a string
``input``, each message's content (a string or its text parts), tool outputs
sent back (``function_call_output``, ``role: tool`` messages) and the
arguments of earlier tool calls replayed in the conversation. Ids, model
names, URLs of images and the like are not text and stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# A slot is a container and the key (or index) under which a text string sits.
Slot = tuple[dict[str, Any], str]

_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")


def text_slots(body: dict[str, Any]) -> Iterator[Slot]:
    """Each text string of a Responses (``input``, ``instructions``) or Chat (``messages``) body."""
    if isinstance(body.get("instructions"), str):
        yield body, "instructions"
    source = body.get("input")
    if isinstance(source, str):
        yield body, "input"
    for field in ("input", "messages"):
        items = body.get(field)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    yield from _item_slots(item)


def _item_slots(item: dict[str, Any]) -> Iterator[Slot]:
    yield from _content_slots(item, "content")
    if item.get("type") in _OUTPUT_ITEMS:
        yield from _content_slots(item, "output")
    if isinstance(item.get("arguments"), str):  # a Responses function_call replayed
        yield item, "arguments"
    calls = item.get("tool_calls")  # a Chat assistant message replayed
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield function, "arguments"


def _content_slots(holder: dict[str, Any], key: str) -> Iterator[Slot]:
    value = holder.get(key)
    if isinstance(value, str):
        yield holder, key
    elif isinstance(value, list):
        for part in value:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part, "text"


def text_size(body: dict[str, Any]) -> int:
    return sum(len(holder[key]) for holder, key in text_slots(body))
