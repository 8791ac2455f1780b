"""Which functions a request declares, and the refusal of one its tenant may not declare.

Checked with the hosted tools, when the tenant's policy is applied to the body:
before admission, so a refused request costs no quota and never goes upstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.config.functions import FunctionAllowList
from gateway.config.runtime import Policy
from gateway.errors import PermissionDenied

# The tool types whose name the client declares (Responses: ``name``; Chat: under the type).
_NAMED = ("function", "custom")


def check_responses(body: dict[str, Any], policy: Policy) -> None:
    """Refuses a Responses request declaring a function (or custom tool) not allowed, or
    naming a stored prompt when names are restricted: its tools cannot be seen (fail closed)."""
    allowed = policy.functions
    if allowed is None:
        return
    if body.get("prompt"):
        raise PermissionDenied(
            "Your tenant may declare only some functions, and a stored prompt can carry "
            "functions the gateway cannot see, so stored prompts are refused for it; send the "
            "prompt's instructions and tools in the request instead.",
            param="prompt",
            code="function_not_allowed",
        )
    _check(responses_functions(body.get("tools")), allowed, "tools")


def check_chat(body: dict[str, Any], policy: Policy) -> None:
    """Refuses a Chat request declaring a function (or custom tool) not allowed: in
    ``tools`` or in the legacy ``functions``."""
    allowed = policy.functions
    if allowed is None:
        return
    _check(chat_functions(body.get("tools")), allowed, "tools")
    legacy = (f["name"] for f in _dicts(body.get("functions")) if isinstance(f.get("name"), str))
    _check(legacy, allowed, "functions")


def responses_functions(tools: Any) -> Iterator[str]:
    """Names of the functions and custom tools of a Responses ``tools`` array."""
    for tool in _dicts(tools):
        if tool.get("type") in _NAMED and isinstance(tool.get("name"), str):
            yield tool["name"]


def chat_functions(tools: Any) -> Iterator[str]:
    """Names of the functions and custom tools of a Chat ``tools`` array (under the type)."""
    for tool in _dicts(tools):
        kind = tool.get("type")
        inner = tool.get(kind) if isinstance(kind, str) and kind in _NAMED else None
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            yield inner["name"]


def _check(names: Iterator[str], allowed: FunctionAllowList, param: str) -> None:
    for name in names:
        if not allowed.allows(name):
            raise PermissionDenied(
                f"Your tenant may not declare the function '{name}'.",
                param=param,
                code="function_not_allowed",
            )


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
