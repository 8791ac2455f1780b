"""The stream events of a finished Responses answer, in order and numbered from 0.

SSE frames each one as ``event:``/``data:``; the WebSocket mode sends each as one message.
The sequence: ``response.created``, ``response.in_progress``, then per output item its
``output_item.added``, its deltas and ``.done`` events and ``output_item.done``, and last
``response.completed`` (or ``response.incomplete``) carrying the final object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fake_openai.generation import split_deltas
from fake_openai.wire import JsonObject, obfuscation

Emit = Callable[..., None]


def response_events(final: JsonObject, obfuscate: bool) -> list[JsonObject]:
    """The events that stream ``final``; ``obfuscate`` pads each delta with random text."""
    events: list[JsonObject] = []

    def emit(event_type: str, **fields: Any) -> None:
        events.append({"type": event_type, "sequence_number": len(events), **fields})

    pending = {
        **final,
        "status": "in_progress",
        "output": [],
        "usage": None,
        "completed_at": None,
        "incomplete_details": None,
    }
    pending.pop("tool_usage", None)
    emit("response.created", response=pending)
    emit("response.in_progress", response=pending)
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            _emit_message(emit, index, item, obfuscate)
        elif item["type"] == "function_call":
            _emit_function_call(emit, index, item, obfuscate)
        elif item["type"] == "web_search_call":
            _emit_web_search(emit, index, item)
        else:
            emit("response.output_item.added", output_index=index, item=item)
            emit("response.output_item.done", output_index=index, item=item)
    terminal = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    emit(terminal, response=final)
    return events


def replay_events(obj: JsonObject, obfuscate: bool) -> list[JsonObject]:
    """The events a stored response streams on ``GET …?stream=true``: all of them once it
    has finished; ``response.created`` then ``response.queued`` (or ``.in_progress``) while
    it waits; a cancelled response's stream just stops after ``response.in_progress``."""
    status = obj["status"]
    if status in ("completed", "incomplete"):
        return response_events(obj, obfuscate)
    second = "response.queued" if status == "queued" else "response.in_progress"
    return [
        {"type": "response.created", "sequence_number": 0, "response": obj},
        {"type": second, "sequence_number": 1, "response": obj},
    ]


def _emit_message(emit: Emit, index: int, item: JsonObject, obfuscate: bool) -> None:
    part = item["content"][0]
    logprobs: JsonObject
    # A refusal streams like text, under its own event names and field.
    if part["type"] == "refusal":
        key, prefix, logprobs = "refusal", "response.refusal", {}
    else:
        key, prefix, logprobs = "text", "response.output_text", {"logprobs": []}
    text = part[key]
    where = {"item_id": item["id"], "output_index": index, "content_index": 0}
    emit(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "content": []},
    )
    emit("response.content_part.added", **where, part={**part, key: ""})
    for delta in split_deltas(text):
        extra = {"obfuscation": obfuscation()} if obfuscate else {}
        emit(f"{prefix}.delta", **where, delta=delta, **logprobs, **extra)
    emit(f"{prefix}.done", **where, **{key: text}, **logprobs)
    emit("response.content_part.done", **where, part=part)
    emit("response.output_item.done", output_index=index, item=item)


def _emit_function_call(emit: Emit, index: int, item: JsonObject, obfuscate: bool) -> None:
    arguments = item["arguments"]
    where = {"item_id": item["id"], "output_index": index}
    emit(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "arguments": ""},
    )
    for delta in split_deltas(arguments):
        extra = {"obfuscation": obfuscation()} if obfuscate else {}
        emit("response.function_call_arguments.delta", **where, delta=delta, **extra)
    emit("response.function_call_arguments.done", **where, arguments=arguments)
    emit("response.output_item.done", output_index=index, item=item)


def _emit_web_search(emit: Emit, index: int, item: JsonObject) -> None:
    emit(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "action": {"type": "search"}},
    )
    for phase in ("in_progress", "searching", "completed"):
        emit(f"response.web_search_call.{phase}", output_index=index, item_id=item["id"])
    emit("response.output_item.done", output_index=index, item=item)
