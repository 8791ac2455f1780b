"""Hosted tools: allowed or refused by family, named by the fee they carry; stored prompts."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.runtime import Model, Policy
from gateway.errors import PermissionDenied
from gateway.policy.request import apply_responses
from gateway.policy.tools import PROMPT_TOOLS, hosted_tools

MODEL = Model("gpt-5", "openai", "gpt-5", max_output_tokens=1000)


def policy(**kw: Any) -> Policy:
    return Policy(enabled=True, allowed_models=frozenset({"gpt-5"}), **kw)


@pytest.mark.parametrize(
    ("tool", "fee"),
    [
        ({"type": "code_interpreter", "container": {"type": "auto"}}, "code_interpreter"),
        ({"type": "code_interpreter", "container": "cntr_1"}, "code_interpreter"),
        (
            {"type": "code_interpreter", "container": {"type": "auto", "memory_limit": "64g"}},
            "container_64g",
        ),
        (
            {"type": "shell", "environment": {"type": "container_auto", "memory_limit": "4g"}},
            "container_4g",
        ),
        ({"type": "shell", "environment": {"type": "container_reference"}}, "shell"),
        ({"type": "computer_use_preview"}, "computer_use"),
        ({"type": "image_generation"}, "image_generation"),
        ({"type": "mcp", "server_label": "x"}, "mcp"),
        ({"type": "tool_search"}, "tool_search"),  # hosted unless its execution is the client's
    ],
)
def test_hosted_tools_are_named_by_their_fee(tool: dict[str, Any], fee: str) -> None:
    assert hosted_tools([tool], policy()) == {fee}


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "shell"},
        {"type": "shell", "environment": {"type": "local"}},
        {"type": "tool_search", "execution": "client"},
        {"type": "local_shell"},
        {"type": "function", "name": "f"},
    ],
)
def test_tools_the_client_runs_need_no_permission_and_carry_no_fee(tool: dict[str, Any]) -> None:
    assert hosted_tools([tool], policy(tools=frozenset())) == frozenset()


def test_a_container_tool_is_allowed_by_its_family_whatever_its_memory() -> None:
    tool = {"type": "code_interpreter", "container": {"type": "auto", "memory_limit": "16g"}}
    assert hosted_tools([tool], policy(tools=frozenset({"code_interpreter"}))) == {"container_16g"}
    with pytest.raises(PermissionDenied):
        hosted_tools([tool], policy(tools=frozenset({"web_search"})))


def test_a_stored_prompt_is_refused_to_a_tenant_held_to_some_tools() -> None:
    body = {"prompt": {"id": "pmpt_1"}, "input": "x"}
    with pytest.raises(PermissionDenied) as err:
        apply_responses(body, policy(tools=frozenset({"web_search"})), MODEL, "t")
    assert (err.value.code, err.value.param) == ("tool_not_allowed", "prompt")
    assert "stored prompt" in err.value.message


def test_a_stored_prompt_may_bring_any_hosted_tool_so_its_calls_are_capped() -> None:
    body: dict[str, Any] = {"prompt": {"id": "pmpt_1"}, "input": "x"}
    applied = apply_responses(body, policy(max_tool_calls=3), MODEL, "t")
    assert applied.hosted_tools == PROMPT_TOOLS
    assert {"image_generation", "mcp", "container_64g"} <= PROMPT_TOOLS
    assert (applied.max_tool_calls, body["max_tool_calls"]) == (3, 3)
