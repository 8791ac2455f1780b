"""One error, said on every transport in the dialect each official client parses."""

from __future__ import annotations

import json

from gateway.errors import BadRequest, BudgetExceeded, RateLimited
from gateway.errors.wire import (
    INTERNAL,
    as_gateway_error,
    http_headers,
    json_body,
    realtime_event,
    responses_socket_event,
    sse_chat,
    sse_responses,
)

ERR = BadRequest("Nope.", param="model", code="model_not_found")
OBJECT = {
    "message": "Nope.",
    "type": "invalid_request_error",
    "param": "model",
    "code": "model_not_found",
}


def test_http_body_and_headers() -> None:
    assert json.loads(json_body(ERR)) == {"error": OBJECT}
    limited = RateLimited("Slow down.", code="rpm", retry_after_s=1.2, headers={}, kind="requests")
    assert dict(http_headers(limited)) == {b"retry-after": b"2", b"retry-after-ms": b"2000"}
    assert dict(http_headers(BudgetExceeded("Spent.", retry_after_s=30)))[b"x-should-retry"] == (
        b"false"
    )


def test_sse_events_in_each_apis_dialect() -> None:
    responses = sse_responses(ERR)
    assert responses.startswith(b"event: error\ndata: ")
    assert responses.endswith(b"\n\n")
    assert json.loads(responses.split(b"data: ", 1)[1]) == {"type": "error", "error": OBJECT}
    chat = sse_chat(ERR)
    assert chat.startswith(b"data: ")
    assert chat.endswith(b"\n\n")
    assert json.loads(chat[len(b"data: ") :]) == {"error": OBJECT}


def test_websocket_events_in_each_apis_dialect() -> None:
    realtime = json.loads(realtime_event(ERR, "evt_client_1"))
    assert realtime["type"] == "error"
    assert realtime["event_id"].startswith("gw_evt_")
    assert realtime["error"] == {**OBJECT, "event_id": "evt_client_1"}
    on_lane = json.loads(responses_socket_event(ERR, "lane-a"))
    assert on_lane == {"type": "error", "error": OBJECT, "status": 400, "stream_id": "lane-a"}
    assert "stream_id" not in json.loads(responses_socket_event(ERR, None))


class FrameworkError(Exception):
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__("framework says no")
        self.status_code, self.headers, self.detail = status_code, headers, "framework says no"


def test_any_exception_becomes_a_gateway_error() -> None:
    assert as_gateway_error(ERR) is ERR
    not_found = as_gateway_error(FrameworkError(404))
    assert (not_found.status, not_found.type, not_found.code) == (
        404,
        "invalid_request_error",
        "not_found",
    )
    allow = as_gateway_error(FrameworkError(405, {"allow": "GET"}))
    assert (allow.status, allow.headers) == (405, {"allow": "GET"})
    assert as_gateway_error(FrameworkError(500)) is INTERNAL
    assert as_gateway_error(KeyError("x")) is INTERNAL
    assert json.loads(json_body(INTERNAL))["error"]["code"] == "internal_error"
