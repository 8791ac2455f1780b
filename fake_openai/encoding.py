"""How one event is framed in each dialect: an SSE frame, a Realtime event, and the error
events of the two WebSocket APIs (which nest their errors differently)."""

from __future__ import annotations

from typing import Any

import orjson

from fake_openai.wire import ApiError, JsonObject, new_id

SSE_DONE = b"data: [DONE]\n\n"
"""The Chat stream's last frame."""


def sse(event: JsonObject, *, named: bool) -> bytes:
    """One SSE frame: Responses streams name each event; Chat streams are bare ``data:`` lines."""
    data = orjson.dumps(event)
    if named:
        return b"event: " + str(event["type"]).encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


def realtime_event(kind: str, **fields: Any) -> JsonObject:
    """A Realtime server event: its ``type``, a fresh ``event_id``, then its fields."""
    return {"type": kind, "event_id": new_id("event_", 12), **fields}


def realtime_error(error: ApiError, client_event_id: Any) -> JsonObject:
    """The Realtime ``error`` event; it names the client event that caused it, if any."""
    return realtime_event(
        "error",
        error={
            "type": error.type,
            "code": error.code,
            "message": error.message,
            "param": error.param,
            "event_id": client_event_id if isinstance(client_event_id, str) else None,
        },
    )


def socket_error(error: ApiError, stream_id: Any, headers: dict[str, str] | None) -> JsonObject:
    """The Responses socket's ``error`` event: the HTTP status beside a nested error."""
    body: JsonObject = {
        "type": error.type,
        "code": error.code,
        "message": error.message,
        "param": error.param,
    }
    if headers:
        body["headers"] = headers
    event: JsonObject = {"type": "error", "error": body, "status": error.status}
    if isinstance(stream_id, str):
        event["stream_id"] = stream_id
    return event
