"""The functions a request may declare (`functions:`), and the bounded tool-call labels."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.config.functions import compile_functions
from gateway.config.runtime import Model, Policy
from gateway.errors import PermissionDenied
from gateway.guardrails.toolcalls import OTHER, ToolCalls, called, streamed_names
from gateway.metering.outcome import Outcome
from gateway.policy.request import apply_chat, apply_responses
from gateway.shapes.sse import ChatTap

MODEL = Model("gpt-5", "openai", "gpt-5", max_output_tokens=1000)


def policy(functions: list[str]) -> Policy:
    return Policy(
        enabled=True, allowed_models=frozenset({"gpt-5"}), functions=compile_functions(functions)
    )


def test_star_compiles_to_no_list() -> None:
    assert compile_functions(["get_weather", "*"]) is None


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("get_weather", True),
        ("search_docs", True),
        ("search_", True),
        ("research_docs", False),  # a glob matches the whole name
        ("get_weather2", False),
        ("tool_a", True),
        ("tool_ab", False),
    ],
)
def test_exact_names_and_globs(name: str, allowed: bool) -> None:
    names = compile_functions(["get_weather", "search_*", "tool_?"])
    assert names is not None
    assert names.allows(name) is allowed


def test_responses_custom_tools_are_checked_and_hosted_tools_are_not() -> None:
    p = policy(["get_weather"])
    apply_responses({"tools": [{"type": "web_search"}]}, p, MODEL, "t")
    with pytest.raises(PermissionDenied) as err:
        apply_responses({"tools": [{"type": "custom", "name": "sql"}]}, p, MODEL, "t")
    assert err.value.code == "function_not_allowed"


def test_chat_custom_tools_are_checked() -> None:
    tool: Any = {"type": "custom", "custom": {"name": "sql"}}
    with pytest.raises(PermissionDenied) as err:
        apply_chat({"tools": [tool]}, policy(["get_weather"]), MODEL, "t", False)
    assert (err.value.code, err.value.param) == ("function_not_allowed", "tools")
    apply_chat({"tools": [tool]}, policy(["sq*"]), MODEL, "t", False)


def test_labels_are_the_allow_list_then_the_first_names_then_other() -> None:
    calls = ToolCalls(CollectorRegistry(), max_names=2)
    listed = compile_functions(["exact_one", "glob_*"])
    assert [calls.label(n, listed) for n in ("a", "b", "c", "a")] == ["a", "b", OTHER, "a"]
    assert calls.label("exact_one", listed) == "exact_one"  # listed exactly: its own label
    assert calls.label("glob_x", listed) == OTHER  # a glob is no bound on names


def test_names_from_answers() -> None:
    responses = Outcome(
        status=200,
        body={
            "output": [
                {"type": "reasoning"},
                {"type": "function_call", "name": "f", "arguments": "{}"},
                {"type": "custom_tool_call", "name": "g", "input": "x"},
            ]
        },
    )
    assert called("responses", responses) == ["f", "g"]
    message = {
        "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"type": "custom", "custom": {"name": "g", "input": "x"}},
        ]
    }
    chat = Outcome(status=200, body={"choices": [{"message": message}]})
    assert called("chat", chat) == ["f", "g"]
    legacy = {"choices": [{"message": {"function_call": {"name": "h", "arguments": "{}"}}}]}
    assert called("chat", Outcome(status=200, body=legacy)) == ["h"]
    assert called("chat", Outcome(status=500, body={"choices": [{"message": message}]})) == []


def test_the_chat_tap_picks_names_from_deltas_only_where_a_call_starts() -> None:
    tap = ChatTap()
    opening = {"id": "c", "choices": [{"delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]}}]}  # fmt: skip
    args = {"id": "c", "choices": [{"delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '{"name": "x"}'}}]}}]}  # fmt: skip
    import orjson

    stream = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in (opening, args, args))
    tap.feed(stream[:40])
    tap.feed(stream[40:] + b"data: [DONE]\n\n")
    assert tap.facts.tool_names == ["get_weather"]
    assert streamed_names(b"not json") == []
