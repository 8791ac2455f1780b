"""The tenant's output cap and tool allow-list on Realtime events and session configs.

Shared by the socket session (`gateway.realtime.session`) and the HTTP calls
that fix a session's config before any socket exists (client secrets, WebRTC
calls: `gateway.api.realtime_http`).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.config.runtime import Policy
from gateway.errors import BadRequest, GatewayError
from gateway.policy.request import hosted_tools


def apply_cap(body: dict[str, Any], cap: int, policy: Policy) -> bool:
    """The tenant's tool allow-list (``mcp`` is a hosted tool), then its output cap: a
    ``max_output_tokens`` above it is clamped (or refused, per policy). True if changed."""
    hosted_tools(body.get("tools"), policy)
    if "max_output_tokens" not in body:
        return False  # the session's cap applies
    asked = body["max_output_tokens"]
    if asked is not None and within(asked, cap):
        return False
    if policy.output_cap_mode == "reject":
        raise cap_error(cap, asked)
    body["max_output_tokens"] = cap  # "inf", null, floats, anything above: the cap
    return True


def within(asked: Any, cap: int) -> bool:
    """An explicit cap the tenant's cap allows (a missing one inherits the session's)."""
    return asked is None or (
        isinstance(asked, int) and not isinstance(asked, bool) and 1 <= asked <= cap
    )


def cap_error(cap: int, asked: Any = None) -> GatewayError:
    return BadRequest(
        f"max_output_tokens {asked if asked is not None else 'above the cap'} is not allowed: "
        f"this tenant's cap is {cap}.",
        param="max_output_tokens",
        code="output_cap_exceeded",
    )


def cancel_event(response_id: str) -> str:
    return orjson.dumps({"type": "response.cancel", "response_id": response_id}).decode()
