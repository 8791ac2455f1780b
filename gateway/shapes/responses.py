"""The Responses API (``POST /v1/responses`` and its WebSocket mode) as a description."""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.config.runtime import Model, Policy
from gateway.errors.wire import sse_responses
from gateway.metering.usage import from_responses
from gateway.policy.request import Applied, apply_responses, served_tiers
from gateway.routing.classify import judge_responses
from gateway.shapes.endpoint import (
    CreateRequest,
    Deferral,
    Endpoint,
    Tap,
    model_and_stream,
    untouched,
)
from gateway.shapes.refs import RESPONSE, responses_refs
from gateway.shapes.sse import ResponsesTap


def _parse(body: dict[str, Any]) -> CreateRequest:
    model, stream = model_and_stream(body)
    creates = None if body.get("store") is False else RESPONSE
    background = body.get("background") is True
    return CreateRequest(model, stream, responses_refs(body), creates, background)


def _policy(body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool) -> Applied:
    return apply_responses(body, policy, model, tenant)


def _tap(strip_usage: bool) -> Tap:
    return ResponsesTap()


# A background response runs on after its answer: held at its bound until it ends.
RESPONSE_DEFERRAL = Deferral(
    kind=RESPONSE.name,
    path="/responses/{id}",
    terminal=frozenset({"completed", "failed", "incomplete", "cancelled"}),
    tier=None,  # billed at the tier the ended response says it used
    only_if="background",
)

RESPONSES = Endpoint(
    name="responses",
    family="responses",
    upstream_path="/responses",
    parse=_parse,
    apply_policy=_policy,
    usage=from_responses,
    new_tap=_tap,
    stream_error=sse_responses,
    judge=judge_responses,
    defer=RESPONSE_DEFERRAL,
)
# ``GET /v1/responses`` upgraded: the same calls, carried as events on one socket.
RESPONSES_SOCKET = dataclasses.replace(RESPONSES, name="responses.websocket")


def _parse_compact(body: dict[str, Any]) -> CreateRequest:
    model, _ = model_and_stream(body)
    return CreateRequest(model, stream=False, refs=responses_refs(body))


def _compact_policy(
    body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool
) -> Applied:
    # No request field caps a compaction's output: the model's own limit bounds it.
    applied = untouched(model.max_output_tokens or model.context_window)
    return dataclasses.replace(applied, tiers=served_tiers(body, policy))


# ``POST /v1/responses/compact``: a model call that condenses a conversation.
RESPONSES_COMPACT = Endpoint(
    name="responses.compact",
    family="responses",
    upstream_path="/responses/compact",
    parse=_parse_compact,
    apply_policy=_compact_policy,
    usage=from_responses,
)
