"""OpenAI-specific request policy: output caps, hosted tools, store, tiers, cache keys.

One pure function per API shape rewrites the parsed body in place and says
what it did; the handler re-encodes the body only when something changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest, PermissionDenied
from gateway.guardrails.functions import check_chat, check_responses
from gateway.policy.tools import hosted_tools, prompt_tools

__all__ = ["Applied", "apply_chat", "apply_responses", "hosted_tools", "served_tiers"]

# set: the gateway put its cap in; clamped: it lowered the client's; kept: the client's
# stands; model: neither set one, the model's own limit bounds the call (body untouched).
CapAction = Literal["set", "clamped", "kept", "model"]

# Chat's fields that set output length: the answer stops at the lowest, so each is capped
# and the bound takes the largest (an API that read only one must not be relied on).
_CHAT_CAPS = ("max_completion_tokens", "max_tokens")


@dataclass(frozen=True, slots=True)
class Applied:
    cap: int  # the output cap in force: the output side of the cost bound
    cap_action: CapAction
    hosted_tools: frozenset[str]  # hosted tools the call may use, by fee name
    max_tool_calls: int | None  # bound on hosted-tool calls (Responses), None if no tools
    changed: bool  # the body must be re-encoded
    injected_usage: bool  # the gateway added stream_options.include_usage (Chat)
    choices: int = 1  # Chat `n`: output is paid per choice
    tiers: frozenset[str] | None = None  # the service tiers it may be served at; None: any

    @property
    def cap_header(self) -> str:
        return f"{self.cap_action}; limit={self.cap}"


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"'{name}' must be a positive integer.", param=name, code="invalid_value")
    return value


def _cap(
    body: dict[str, Any], field: str, cap: int, policy: Policy, imposed: bool = True
) -> tuple[int, CapAction]:
    requested = _positive_int(body, field)
    if requested is None:
        if not imposed:  # as OpenAI would get it; the model's limit bounds it
            return cap, "model"
        body[field] = cap
        return cap, "set"
    if requested <= cap:
        return requested, "kept"
    if policy.output_cap_mode == "reject":
        raise BadRequest(
            f"'{field}' is {requested}, above this tenant's output cap of {cap}.",
            param=field,
            code="output_cap_exceeded",
        )
    body[field] = cap
    return cap, "clamped"


def _chat_cap(body: dict[str, Any], policy: Policy, model: Model) -> tuple[int, CapAction]:
    """Every output-length field the client sent is capped (none: the cap is set in
    ``max_completion_tokens``); the output bound is the largest that remains."""
    cap = policy.output_cap(model)
    sent = [f for f in _CHAT_CAPS if body.get(f) is not None]
    if not sent:
        return _cap(body, _CHAT_CAPS[0], cap, policy, policy.caps_output(model))
    capped = [_cap(body, f, cap, policy) for f in sent]
    action: CapAction = "clamped" if any(a == "clamped" for _, a in capped) else "kept"
    return max(limit for limit, _ in capped), action


def served_tiers(body: dict[str, Any], policy: Policy) -> frozenset[str] | None:
    """The service tiers a call may be served (and billed) at; refuses one the tenant may
    not ask for. ``auto`` (or none) is served at any tier the tenant may use."""
    tier = body.get("service_tier")
    if tier is None:
        return policy.service_tiers
    if not isinstance(tier, str):
        raise BadRequest("'service_tier' must be a string.", param="service_tier")
    if policy.service_tiers is not None and tier not in policy.service_tiers:
        raise PermissionDenied(
            f"Your tenant may not use service_tier '{tier}'.",
            param="service_tier",
            code="service_tier_not_allowed",
        )
    return policy.service_tiers if tier == "auto" else frozenset((tier,))


def _common(body: dict[str, Any], policy: Policy, tenant: str) -> bool:
    changed = False
    if policy.store is False and body.get("store") is not False:
        body["store"] = False
        changed = True
    if policy.prompt_cache_key and not body.get("prompt_cache_key"):
        body["prompt_cache_key"] = f"tenant:{tenant}"
        changed = True
    return changed


def apply_responses(body: dict[str, Any], policy: Policy, model: Model, tenant: str) -> Applied:
    tiers = served_tiers(body, policy)
    changed = _common(body, policy, tenant)
    imposed = policy.caps_output(model)
    cap, action = _cap(body, "max_output_tokens", policy.output_cap(model), policy, imposed)
    hosted = hosted_tools(body.get("tools"), policy) | prompt_tools(body, policy)
    check_responses(body, policy)
    max_calls = None
    if hosted:
        asked = _positive_int(body, "max_tool_calls")
        max_calls = min(asked, policy.max_tool_calls) if asked else policy.max_tool_calls
        if asked != max_calls:
            body["max_tool_calls"] = max_calls
            changed = True
    changed = changed or action in ("set", "clamped")
    return Applied(cap, action, hosted, max_calls, changed, False, tiers=tiers)


def apply_chat(
    body: dict[str, Any], policy: Policy, model: Model, tenant: str, stream: bool
) -> Applied:
    tiers = served_tiers(body, policy)
    changed = _common(body, policy, tenant)
    cap, action = _chat_cap(body, policy, model)
    hosted = hosted_tools(body.get("tools"), policy)
    check_chat(body, policy)
    if body.get("web_search_options") is not None:
        hosted = hosted | hosted_tools([{"type": "web_search"}], policy)
    choices = _positive_int(body, "n") or 1
    injected = stream and _include_usage(body)
    return Applied(
        cap,
        action,
        hosted,
        choices if hosted else None,  # a search per choice, at most
        changed or injected or action in ("set", "clamped"),
        injected,
        choices,
        tiers,
    )


def _include_usage(body: dict[str, Any]) -> bool:
    """Asks a stream for its usage chunk; True if the client had not."""
    options = body.get("stream_options")
    if options is None:
        options = body["stream_options"] = {}
    if not isinstance(options, dict):
        raise BadRequest(
            "'stream_options' must be an object.", param="stream_options", code="invalid_type"
        )
    if options.get("include_usage"):
        return False
    options["include_usage"] = True
    return True
