"""One adapter per API shape, so the proxy pipeline is written once.

An adapter knows where a request keeps its model and stream flag, how to
find the created object's id in a JSON answer, which SSE tap reads its
streams, and how to report an error inside an already-started stream in the
dialect the official SDKs understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest, GatewayError
from gateway.metering.usage import Usage, from_chat, from_responses
from gateway.policy.request import Applied, apply_chat, apply_responses
from gateway.shapes.sse import ChatTap, ResponsesTap, StreamFacts


class Tap(Protocol):
    facts: StreamFacts
    strip_usage: bool

    def feed(self, chunk: bytes) -> None: ...
    def filter(self, chunk: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class CreateRequest:
    model: str
    stream: bool
    previous_response_id: str | None


class Shape(Protocol):
    endpoint: str

    def parse(self, body: dict[str, Any]) -> CreateRequest: ...
    def apply_policy(
        self, body: dict[str, Any], policy: Policy, model: Model, tenant: str, stream: bool
    ) -> Applied: ...
    def usage(self, usage: dict[str, Any], response: dict[str, Any] | None) -> Usage: ...
    def new_tap(self, strip_usage: bool = False) -> Tap: ...
    def stream_error(self, err: GatewayError) -> bytes: ...


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"We could not parse the JSON body of your request: {exc.msg}.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def _model_and_stream(body: dict[str, Any]) -> tuple[str, bool]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("You must provide a model parameter.", param="model", code="missing_model")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean.", param="stream", code="invalid_type")
    return model, bool(stream)


def _error_json(err: GatewayError) -> dict[str, Any]:
    return {"type": err.type, "code": err.code, "message": err.message, "param": err.param}


class ResponsesShape:
    endpoint = "responses"

    def parse(self, body: dict[str, Any]) -> CreateRequest:
        model, stream = _model_and_stream(body)
        prev = body.get("previous_response_id")
        if prev is not None and not isinstance(prev, str):
            raise BadRequest(
                "'previous_response_id' must be a string.", param="previous_response_id"
            )
        return CreateRequest(model=model, stream=stream, previous_response_id=prev)

    def apply_policy(
        self, body: dict[str, Any], policy: Policy, model: Model, tenant: str, stream: bool
    ) -> Applied:
        return apply_responses(body, policy, model, tenant)

    def usage(self, usage: dict[str, Any], response: dict[str, Any] | None) -> Usage:
        return from_responses(usage, response)

    def new_tap(self, strip_usage: bool = False) -> Tap:
        return ResponsesTap()

    def stream_error(self, err: GatewayError) -> bytes:
        # The nested form seen on the wire; the SDK raises APIError on it.
        data = orjson.dumps({"type": "error", "error": _error_json(err)})
        return b"event: error\ndata: " + data + b"\n\n"


class ChatShape:
    endpoint = "chat.completions"

    def parse(self, body: dict[str, Any]) -> CreateRequest:
        model, stream = _model_and_stream(body)
        return CreateRequest(model=model, stream=stream, previous_response_id=None)

    def apply_policy(
        self, body: dict[str, Any], policy: Policy, model: Model, tenant: str, stream: bool
    ) -> Applied:
        return apply_chat(body, policy, model, tenant, stream)

    def usage(self, usage: dict[str, Any], response: dict[str, Any] | None) -> Usage:
        return from_chat(usage)

    def new_tap(self, strip_usage: bool = False) -> Tap:
        return ChatTap(strip_usage)

    def stream_error(self, err: GatewayError) -> bytes:
        return b"data: " + orjson.dumps({"error": _error_json(err)}) + b"\n\n"


RESPONSES = ResponsesShape()
CHAT = ChatShape()
