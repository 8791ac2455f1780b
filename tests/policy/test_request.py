"""Request policy as plain functions: what each rule does to a body, and what it refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest, PermissionDenied
from gateway.policy.request import Applied, apply_chat, apply_responses, served_tiers

MODEL = Model("gpt-5", "openai", "gpt-5", max_output_tokens=1000)


def policy(**kw: Any) -> Policy:
    return Policy(enabled=True, allowed_models=frozenset({"gpt-5"}), **kw)


def test_the_model_limit_caps_the_tenant_cap() -> None:
    body: dict[str, Any] = {"input": "x"}
    applied = apply_responses(body, policy(max_output_tokens=5000), MODEL, "t")
    assert (applied.cap, applied.cap_action, body["max_output_tokens"]) == (1000, "set", 1000)


def _responses(body: dict[str, Any], p: Policy) -> Applied:
    return apply_responses(body, p, MODEL, "t")


def _chat(body: dict[str, Any], p: Policy) -> Applied:
    return apply_chat(body, p, MODEL, "t", False)


@pytest.mark.parametrize(
    ("apply", "field"), [(_responses, "max_output_tokens"), (_chat, "max_completion_tokens")]
)
def test_without_a_tenant_cap_a_request_goes_as_it_came_bounded_by_the_model(
    apply: Callable[[dict[str, Any], Policy], Applied], field: str
) -> None:
    body: dict[str, Any] = {"input": "x"}
    applied = apply(body, policy())
    assert (applied.cap, applied.cap_action) == (1000, "model")
    assert field not in body, "as OpenAI would get it"
    assert not applied.changed
    asked: dict[str, Any] = {field: 300}
    assert apply(asked, policy()).cap_action == "kept"
    assert asked == {field: 300}


def test_a_model_without_a_limit_is_bounded_at_its_window() -> None:
    unknown = Model("gpt-x", "openai", "gpt-x", context_window=32_000)
    assert policy().output_cap(unknown) == 32_000
    assert policy(max_output_tokens_by_model={"gpt-x": 99}).output_cap(unknown) == 99


@pytest.mark.parametrize("bad", [0, -5, "10", True, 1.5])
def test_nonsense_caps_are_refused(bad: object) -> None:
    with pytest.raises(BadRequest) as err:
        apply_responses({"max_output_tokens": bad}, policy(), MODEL, "t")
    assert err.value.param == "max_output_tokens"


def test_tool_variants_map_to_their_policy_name() -> None:
    body = {"tools": [{"type": "web_search_preview_2025_03_11"}]}
    with pytest.raises(PermissionDenied) as err:
        apply_responses(body, policy(tools=frozenset({"file_search"})), MODEL, "t")
    assert "web_search" in err.value.message


def test_unknown_tool_types_need_a_wildcard() -> None:
    body = {"tools": [{"type": "brand_new_hosted_tool"}]}
    with pytest.raises(PermissionDenied):
        apply_responses(dict(body), policy(tools=frozenset({"web_search"})), MODEL, "t")
    assert apply_responses(dict(body), policy(), MODEL, "t").hosted_tools == {
        "brand_new_hosted_tool"
    }


def test_max_tool_calls_is_lowered_to_the_policy_and_only_set_with_hosted_tools() -> None:
    body: dict[str, Any] = {"tools": [{"type": "web_search"}], "max_tool_calls": 50}
    applied = apply_responses(body, policy(max_tool_calls=4), MODEL, "t")
    assert (body["max_tool_calls"], applied.max_tool_calls) == (4, 4)
    plain: dict[str, Any] = {"tools": [{"type": "function", "name": "f"}]}
    assert apply_responses(plain, policy(), MODEL, "t").max_tool_calls is None
    assert "max_tool_calls" not in plain


def test_chat_stream_gets_usage_unless_the_client_asked() -> None:
    body: dict[str, Any] = {"messages": [], "stream": True}
    assert apply_chat(body, policy(), MODEL, "t", True).injected_usage
    assert body["stream_options"] == {"include_usage": True}
    asked: dict[str, Any] = {"stream_options": {"include_usage": True}}
    assert not apply_chat(asked, policy(), MODEL, "t", True).injected_usage


def test_chat_n_multiplies_the_output_side() -> None:
    assert apply_chat({"n": 3}, policy(), MODEL, "t", False).choices == 3


def test_nothing_to_change_leaves_the_body_alone() -> None:
    body: dict[str, Any] = {"input": "x", "max_output_tokens": 10, "prompt_cache_key": "k"}
    applied = apply_responses(body, policy(), MODEL, "t")
    assert not applied.changed
    assert body == {"input": "x", "max_output_tokens": 10, "prompt_cache_key": "k"}


# Every field that sets output length is capped; the bound takes the largest left.


@pytest.mark.parametrize(
    ("sent", "after", "cap", "action"),
    [
        ({"max_completion_tokens": 32, "max_tokens": 100000}, (32, 64), 64, "clamped"),
        ({"max_completion_tokens": 100000, "max_tokens": 32}, (64, 32), 64, "clamped"),
        ({"max_completion_tokens": 10, "max_tokens": 20}, (10, 20), 20, "kept"),
        ({"max_tokens": 500}, (None, 64), 64, "clamped"),
        ({}, (64, None), 64, "set"),
        ({"max_tokens": None}, (64, None), 64, "set"),
    ],
)
def test_chat_caps_every_output_length_field(
    sent: dict[str, Any], after: tuple[int | None, int | None], cap: int, action: str
) -> None:
    body: dict[str, Any] = {"messages": [], **sent}
    applied = apply_chat(body, policy(max_output_tokens=64), MODEL, "t", False)
    assert (body.get("max_completion_tokens"), body.get("max_tokens")) == after
    assert (applied.cap, applied.cap_action) == (cap, action)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_chat_reject_mode_refuses_either_field_above_the_cap(field: str) -> None:
    body = {"messages": [], "max_completion_tokens": 10, "max_tokens": 10, field: 65}
    with pytest.raises(BadRequest) as err:
        apply_chat(body, policy(max_output_tokens=64, output_cap_mode="reject"), MODEL, "t", False)
    assert (err.value.code, err.value.param) == ("output_cap_exceeded", field)


def test_chat_n_bounds_search_calls_per_choice() -> None:
    body: dict[str, Any] = {"messages": [], "n": 4, "web_search_options": {}}
    applied = apply_chat(body, policy(), MODEL, "t", False)
    assert (applied.choices, applied.max_tool_calls, applied.hosted_tools) == (
        4,
        4,
        frozenset({"web_search"}),
    )


# Service tiers: what a call may be served at, which its bound is taken at.


def test_served_tiers_follow_the_request_and_the_tenant() -> None:
    listed = policy(service_tiers=frozenset({"auto", "default", "flex"}))
    assert served_tiers({}, policy()) is None  # auto: any tier
    assert served_tiers({"service_tier": "auto"}, policy()) is None
    assert served_tiers({}, listed) == frozenset({"auto", "default", "flex"})
    assert served_tiers({"service_tier": "auto"}, listed) == frozenset({"auto", "default", "flex"})
    assert served_tiers({"service_tier": "flex"}, listed) == frozenset({"flex"})
    assert served_tiers({"service_tier": "priority"}, policy()) == frozenset({"priority"})


@pytest.mark.parametrize("tier", ["priority", "auto", "fast"])
def test_a_tier_outside_the_tenant_list_is_refused(tier: str) -> None:
    with pytest.raises(PermissionDenied) as err:
        served_tiers({"service_tier": tier}, policy(service_tiers=frozenset({"default"})))
    assert err.value.code == "service_tier_not_allowed"


def test_the_tiers_reach_the_applied_policy_of_both_shapes() -> None:
    listed = policy(service_tiers=frozenset({"default", "flex"}))
    assert apply_responses({"input": "x"}, listed, MODEL, "t").tiers == frozenset(
        {"default", "flex"}
    )
    body = {"messages": [], "service_tier": "flex"}
    assert apply_chat(body, listed, MODEL, "t", False).tiers == frozenset({"flex"})
