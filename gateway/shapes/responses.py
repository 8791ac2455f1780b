"""The Responses API (``POST /v1/responses`` and its WebSocket mode) as a description."""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest
from gateway.errors.wire import sse_responses
from gateway.metering.usage import from_responses
from gateway.policy.request import Applied, apply_responses
from gateway.routing.classify import judge_responses
from gateway.shapes.endpoint import CreateRequest, Endpoint, Tap, model_and_stream
from gateway.shapes.sse import ResponsesTap


def _parse(body: dict[str, Any]) -> CreateRequest:
    model, stream = model_and_stream(body)
    prev = body.get("previous_response_id")
    if prev is not None and not isinstance(prev, str):
        raise BadRequest("'previous_response_id' must be a string.", param="previous_response_id")
    return CreateRequest(model=model, stream=stream, previous_response_id=prev)


def _policy(body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool) -> Applied:
    return apply_responses(body, policy, model, tenant)


def _tap(strip_usage: bool) -> Tap:
    return ResponsesTap()


RESPONSES = Endpoint(
    name="responses",
    upstream_path="/responses",
    parse=_parse,
    apply_policy=_policy,
    usage=from_responses,
    new_tap=_tap,
    stream_error=sse_responses,
    judge=judge_responses,
    owns_created=True,
)
# ``GET /v1/responses`` upgraded: the same calls, carried as events on one socket.
RESPONSES_SOCKET = dataclasses.replace(RESPONSES, name="responses.websocket")
