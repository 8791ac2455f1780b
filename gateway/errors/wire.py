"""How an error is written on each transport: the one place OpenAI's error shape is produced.

The object is always ``{"message", "type", "param", "code"}``; what differs
is the envelope each API and transport puts around it:

- HTTP: ``{"error": {...}}`` with the error's status and headers.
- SSE, Responses: ``event: error`` with ``{"type": "error", "error": {...}}``
  (the nested form seen on the wire; the SDK raises ``APIError`` on it).
- SSE, Chat Completions: a ``data:`` line with ``{"error": {...}}``.
- WebSocket, Realtime: an ``error`` event whose ``error`` also names the
  client's ``event_id`` it answers.
- WebSocket, Responses mode: an ``error`` event with the equivalent HTTP
  ``status`` and, on a lane, its ``stream_id``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.errors import GatewayError, InternalError

INTERNAL = InternalError("The gateway failed to handle this request.", code="internal_error")
_LITESTAR_MESSAGES = {
    404: ("Unknown request URL. Please check the URL and method.", "not_found"),
    405: ("Method not allowed for this URL.", "method_not_allowed"),
}


def error_object(err: GatewayError) -> dict[str, Any]:
    return {"message": err.message, "type": err.type, "param": err.param, "code": err.code}


def json_body(err: GatewayError) -> bytes:
    """The HTTP body of an error."""
    return orjson.dumps({"error": error_object(err)})


def http_headers(err: GatewayError) -> list[tuple[bytes, bytes]]:
    """The headers an error carries (``Retry-After`` on a 429, ``Allow`` on a 405, ...)."""
    return [(k.encode(), v.encode()) for k, v in err.headers.items()]


def sse_responses(err: GatewayError) -> bytes:
    data = orjson.dumps({"type": "error", "error": error_object(err)})
    return b"event: error\ndata: " + data + b"\n\n"


def sse_chat(err: GatewayError) -> bytes:
    return b"data: " + orjson.dumps({"error": error_object(err)}) + b"\n\n"


def realtime_event(err: GatewayError, client_event_id: str | None) -> str:
    """A Realtime ``error`` event; ``client_event_id`` is the client event it refuses."""
    error = {**error_object(err), "event_id": client_event_id}
    event = {"type": "error", "event_id": f"gw_evt_{time.monotonic_ns():x}", "error": error}
    return orjson.dumps(event).decode()


def responses_socket_event(err: GatewayError, lane: str | None) -> str:
    """The Responses WebSocket mode's nested ``error`` event, with the equivalent HTTP status."""
    event: dict[str, Any] = {"type": "error", "error": error_object(err), "status": err.status}
    if lane is not None:
        event["stream_id"] = lane
    return orjson.dumps(event).decode()


def as_gateway_error(exc: BaseException) -> GatewayError:
    """Any exception as the error a client gets: a framework's 4xx keeps its status."""
    if isinstance(exc, GatewayError):
        return exc
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500:
        message, code = _LITESTAR_MESSAGES.get(status, (str(getattr(exc, "detail", exc)), None))
        err = GatewayError(message, code=code, headers=dict(getattr(exc, "headers", None) or {}))
        err.status, err.type = status, "invalid_request_error"
        return err
    return INTERNAL
