"""Realtime responses (``GET /v1/realtime``, WebRTC sidebands), as an endpoint description.

A session names one model (never a route: a session cannot change model per
response). Each response it starts is one metered call whose bound is the
whole context window at the dearest input price plus the session's output
cap at the dearest output price: a voice turn can reference everything said
so far, and the client can ask for a response at any moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest
from gateway.metering.usage import Usage, from_realtime
from gateway.policy.request import Applied
from gateway.quota.bound import Sizing, cost_bound
from gateway.shapes.endpoint import CreateRequest, Endpoint

# The API accepts 1..4096 or "inf" (the default: no cap at all).
REALTIME_MAX_OUTPUT = 4096


def realtime_cap(policy: Policy, model: Model) -> int:
    return min(policy.output_cap(model), REALTIME_MAX_OUTPUT)


def _parse(body: dict[str, Any]) -> CreateRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("Missing required parameter: 'model'.", param="model", code=None)
    return CreateRequest(model=model, stream=True)


def _policy(body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool) -> Applied:
    """The session's cap bounds every response; tools and caps on events: `realtime.session`."""
    return Applied(realtime_cap(policy, model), "set", frozenset(), None, False, False)


def _usage(usage: Mapping[str, Any], _: Mapping[str, Any] | None) -> Usage:
    return from_realtime(usage)


def _bound(s: Sizing) -> int:
    return cost_bound(s.price, input_tokens=s.model.context_window, output_tokens=s.applied.cap)


REALTIME = Endpoint(
    name="realtime",
    family="realtime",
    upstream_path="/realtime",
    parse=_parse,
    apply_policy=_policy,
    usage=_usage,
    bound=_bound,
)
