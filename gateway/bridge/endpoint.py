"""Chat Completions served through the Responses API, as a variant of the Chat description.

The client's request is parsed, policed and capped as a Chat request (so
tenants' rules read it as they always do), then re-told as a Responses
request; the upstream's answer is metered as the Responses answer it is
(usage, cached and reasoning tokens) and shown to the client as a chat
completion. The ledger's endpoint stays ``chat.completions``: the client's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.bridge.chat_to_responses import check, to_responses
from gateway.bridge.responses_to_chat import to_chat
from gateway.bridge.stream import BridgeTap
from gateway.config.runtime import Model, Policy
from gateway.metering.usage import from_responses
from gateway.policy.request import Applied, apply_chat
from gateway.routing.classify import judge_responses
from gateway.shapes.chat import CHAT
from gateway.shapes.endpoint import CreateRequest, Endpoint, Tap


def _parse(body: dict[str, Any]) -> CreateRequest:
    request = CHAT.parse(body)
    check(body)
    return request


def _policy(
    body: dict[str, Any], policy: Policy, model: Model, tenant: str, stream: bool
) -> Applied:
    applied = apply_chat(body, policy, model, tenant, stream)
    translated = to_responses(body)
    body.clear()
    body.update(translated)
    return dataclasses.replace(applied, changed=True)


def _tap(strip_usage: bool) -> Tap:
    return BridgeTap(strip_usage)


CHAT_VIA_RESPONSES = dataclasses.replace(
    CHAT,
    upstream_path="/responses",
    parse=_parse,
    apply_policy=_policy,
    usage=from_responses,
    new_tap=_tap,
    judge=judge_responses,
    to_client=to_chat,
)


def bridged(endpoint: Endpoint) -> Endpoint:
    """The endpoint a ``chat_via_responses`` route serves a request of ``endpoint`` by."""
    return CHAT_VIA_RESPONSES if endpoint is CHAT else endpoint
