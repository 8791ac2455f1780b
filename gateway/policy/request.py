"""OpenAI-specific request policy: output caps, hosted tools, store, tiers, cache keys.

One pure function per API shape rewrites the parsed body in place and says
what it did; the handler re-encodes the body only when something changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest, PermissionDenied

CapAction = Literal["set", "clamped", "kept"]

# Tool types run by the client: no fee, no allow-list.
_CLIENT_TOOLS = frozenset({"function", "custom", "local_shell", "apply_patch", "namespace"})
# Hosted tool types, by the name the policy (and the price table) uses.
_HOSTED = {
    "web_search": "web_search",
    "web_search_preview": "web_search",
    "web_search_2025_08_26": "web_search",
    "web_search_preview_2025_03_11": "web_search",
    "file_search": "file_search",
    "code_interpreter": "code_interpreter",
    "image_generation": "image_generation",
    "computer": "computer_use",
    "computer_use": "computer_use",
    "computer_use_preview": "computer_use",
    "mcp": "mcp",
    "shell": "shell",
}


@dataclass(frozen=True, slots=True)
class Applied:
    cap: int  # the output cap in force: the output side of the cost bound
    cap_action: CapAction
    hosted_tools: frozenset[str]  # hosted tools the call may use
    max_tool_calls: int | None  # bound on hosted-tool calls (Responses), None if no tools
    changed: bool  # the body must be re-encoded
    injected_usage: bool  # the gateway added stream_options.include_usage (Chat)
    choices: int = 1  # Chat `n`: output is paid per choice

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
    body: dict[str, Any], field: str, cap: int, policy: Policy, requested: int | None
) -> tuple[int, CapAction]:
    if requested is None:
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


def hosted_tools(tools: Any, policy: Policy) -> frozenset[str]:
    """The hosted tools a request uses; refuses one the tenant may not use."""
    if tools is None:
        return frozenset()
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array.", param="tools", code="invalid_type")
    hosted = set()
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(kind, str):
            raise BadRequest("Every tool needs a 'type'.", param="tools", code="invalid_value")
        if kind in _CLIENT_TOOLS:
            continue
        name = _HOSTED.get(kind, kind)
        if policy.tools is not None and name not in policy.tools:
            raise PermissionDenied(
                f"Your tenant may not use the hosted tool '{name}'.",
                param="tools",
                code="tool_not_allowed",
            )
        hosted.add(name)
    return frozenset(hosted)


def _common(body: dict[str, Any], policy: Policy, tenant: str) -> bool:
    changed = False
    tier = body.get("service_tier")
    if tier is not None and policy.service_tiers is not None and tier not in policy.service_tiers:
        raise PermissionDenied(
            f"Your tenant may not use service_tier '{tier}'.",
            param="service_tier",
            code="service_tier_not_allowed",
        )
    if policy.store is False and body.get("store") is not False:
        body["store"] = False
        changed = True
    if policy.prompt_cache_key and not body.get("prompt_cache_key"):
        body["prompt_cache_key"] = f"tenant:{tenant}"
        changed = True
    return changed


def apply_responses(body: dict[str, Any], policy: Policy, model: Model, tenant: str) -> Applied:
    changed = _common(body, policy, tenant)
    requested = _positive_int(body, "max_output_tokens")
    cap, action = _cap(body, "max_output_tokens", policy.output_cap(model), policy, requested)
    hosted = hosted_tools(body.get("tools"), policy)
    max_calls = None
    if hosted:
        asked = _positive_int(body, "max_tool_calls")
        max_calls = min(asked, policy.max_tool_calls) if asked else policy.max_tool_calls
        if asked != max_calls:
            body["max_tool_calls"] = max_calls
            changed = True
    return Applied(cap, action, hosted, max_calls, changed or action != "kept", False)


def apply_chat(
    body: dict[str, Any], policy: Policy, model: Model, tenant: str, stream: bool
) -> Applied:
    changed = _common(body, policy, tenant)
    field = (
        "max_tokens"
        if "max_tokens" in body and "max_completion_tokens" not in body
        else ("max_completion_tokens")
    )
    requested = _positive_int(body, field)
    cap, action = _cap(body, field, policy.output_cap(model), policy, requested)
    hosted = hosted_tools(body.get("tools"), policy)
    if body.get("web_search_options") is not None:
        hosted = hosted | hosted_tools([{"type": "web_search"}], policy)
    choices = _positive_int(body, "n") or 1
    injected = False
    if stream:
        options = body.get("stream_options")
        if options is None:
            options = body["stream_options"] = {}
        if not isinstance(options, dict):
            raise BadRequest(
                "'stream_options' must be an object.", param="stream_options", code="invalid_type"
            )
        if not options.get("include_usage"):
            options["include_usage"] = True
            injected = True
    return Applied(
        cap,
        action,
        hosted,
        1 if hosted else None,
        changed or injected or action != "kept",
        injected,
        choices,
    )
