"""Hosted tools: which a request may use, named as the allow-list and the price table name them.

A tool the client runs (a function, a local shell) costs nothing upstream and
needs no permission. A hosted tool runs upstream, may carry a per-call fee,
and must be allowed to the tenant. The allow-list names a tool by its family
(``code_interpreter``); its fee can depend on how it is asked for (a
container's memory), so the tools a request uses are returned by fee name.
"""

from __future__ import annotations

from typing import Any

from gateway.config.runtime import Policy
from gateway.errors import BadRequest, PermissionDenied

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
# Where a tool that runs in a container says how much memory it gets: its fee is that
# container's (`container_4g` in the price table).
_CONTAINER_FIELD = {"code_interpreter": "container", "shell": "environment"}
_MEMORY = frozenset({"1g", "4g", "16g", "64g"})
# What a stored prompt may bring that the gateway cannot see: every hosted tool, and
# containers of every size.
PROMPT_TOOLS = frozenset(_HOSTED.values()) | {f"container_{m}" for m in _MEMORY}


def hosted_tools(tools: Any, policy: Policy) -> frozenset[str]:
    """The hosted tools a request uses, by fee name; refuses one the tenant may not use."""
    if tools is None:
        return frozenset()
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array.", param="tools", code="invalid_type")
    hosted = set()
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(kind, str):
            raise BadRequest("Every tool needs a 'type'.", param="tools", code="invalid_value")
        if kind in _CLIENT_TOOLS or _runs_on_client(kind, tool):
            continue
        name = _HOSTED.get(kind, kind)
        if policy.tools is not None and name not in policy.tools:
            raise PermissionDenied(
                f"Your tenant may not use the hosted tool '{name}'.",
                param="tools",
                code="tool_not_allowed",
            )
        hosted.add(_fee_name(name, tool))
    return frozenset(hosted)


def _runs_on_client(kind: str, tool: dict[str, Any]) -> bool:
    """Tools that are hosted or not by their settings: a shell without a container runs
    on the client, as a tool search whose execution is the client's."""
    if kind == "shell":
        environment = tool.get("environment")
        return not isinstance(environment, dict) or environment.get("type") == "local"
    return kind == "tool_search" and tool.get("execution") == "client"


def _fee_name(name: str, tool: dict[str, Any]) -> str:
    box = tool.get(_CONTAINER_FIELD[name]) if name in _CONTAINER_FIELD else None
    memory = box.get("memory_limit") if isinstance(box, dict) else None
    return f"container_{memory}" if memory in _MEMORY else name


def prompt_tools(body: dict[str, Any], policy: Policy) -> frozenset[str]:
    """The hosted tools a stored ``prompt`` may carry: any, since the gateway cannot read
    it. A tenant held to some hosted tools cannot use stored prompts (fail closed)."""
    if not body.get("prompt"):
        return frozenset()
    if policy.tools is not None:
        raise PermissionDenied(
            "Your tenant may use only some hosted tools, and a stored prompt can carry tools "
            "the gateway cannot see, so stored prompts are refused for it; send the prompt's "
            "instructions and tools in the request instead.",
            param="prompt",
            code="tool_not_allowed",
        )
    return PROMPT_TOOLS
