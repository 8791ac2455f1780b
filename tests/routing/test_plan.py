"""Route planning: which ladder serves a request, and why (pure)."""

from __future__ import annotations

import pytest

from gateway.config import GatewayConfig, compile_config, parse_config
from gateway.routing import Features, features_of, plan, split_point

CONFIG = compile_config(
    GatewayConfig.model_validate(
        {
            "models": {"nano": {}, "mini": {}, "big": {}, "long": {}},
            "routes": {
                "default": {
                    "ladder": ["nano", "mini", "big"],
                    "escalate_on": ["incomplete", "upstream_error"],
                    "also_for": ["nano", "mini"],
                    "rules": [
                        {"when": {"hint": "deep"}, "ladder": ["big"]},
                        {
                            "when": {"tenants": ["search"], "min_input_bytes": 1000},
                            "ladder": ["long", "big"],
                        },
                        {
                            "when": {"structured_output": True, "tools": False},
                            "ladder": ["mini", "big"],
                        },
                    ],
                },
                "canary": {
                    "ladder": ["nano"],
                    "split": [
                        {"name": "stable", "weight": 90, "ladder": ["mini"]},
                        {"name": "new", "weight": 10, "ladder": ["nano", "mini"]},
                    ],
                },
            },
        }
    ),
    {},
)


def feats(**kw: object) -> Features:
    base: dict[str, object] = dict(
        tenant="t", input_bytes=10, tools=False, structured_output=False,
        reasoning_effort=None, hint=None,
    )  # fmt: skip
    base.update(kw)
    return Features(**base)  # type: ignore[arg-type]


def names(p: object) -> list[str]:
    return [m.name for m in p.ladder]  # type: ignore[attr-defined]


def test_a_route_serves_its_ladder() -> None:
    p = plan(CONFIG, "default", feats(), "k")
    assert names(p) == ["nano", "mini", "big"]
    assert p.escalate_on == {"incomplete", "upstream_error"}
    assert p.route == "default"


def test_rules_match_in_order_on_every_condition() -> None:
    assert names(plan(CONFIG, "default", feats(hint="deep"), "k")) == ["big"]
    assert names(plan(CONFIG, "default", feats(tenant="search", input_bytes=5000), "k")) == [
        "long", "big",
    ]  # fmt: skip
    assert names(plan(CONFIG, "default", feats(tenant="ads", input_bytes=5000), "k")) == [
        "nano", "mini", "big",
    ]  # fmt: skip
    assert names(plan(CONFIG, "default", feats(structured_output=True), "k")) == ["mini", "big"]
    assert names(plan(CONFIG, "default", feats(structured_output=True, tools=True), "k"))[0] == (
        "nano"
    )


def test_a_concrete_model_has_no_escalation_unless_a_route_claims_it() -> None:
    p = plan(CONFIG, "big", feats(), "k")
    assert names(p) == ["big"]
    assert p.escalate_on == frozenset()
    claimed = plan(CONFIG, "mini", feats(), "k")
    assert names(claimed) == ["mini", "big"]
    assert claimed.route == "default"


def test_splits_are_deterministic_per_key_and_follow_the_weights() -> None:
    keys = [f"req_{i}" for i in range(2000)]
    arms = [plan(CONFIG, "canary", feats(), k).why for k in keys]
    assert arms == [plan(CONFIG, "canary", feats(), k).why for k in keys]
    share = sum("arm new" in a for a in arms) / len(arms)
    assert 0.07 < share < 0.13
    key = next(k for k in keys if split_point(k) >= 90)
    assert names(plan(CONFIG, "canary", feats(), key)) == ["nano", "mini"]


@pytest.mark.parametrize(
    ("body", "structured", "effort"),
    [
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, True, None),
        ({"response_format": {"type": "json_object"}}, True, None),
        ({"reasoning": {"effort": "high"}}, False, "high"),
        ({"reasoning_effort": "low"}, False, "low"),
        ({}, False, None),
    ],
)
def test_features(body: dict[str, object], structured: bool, effort: str | None) -> None:
    f = features_of("t", body, b"x" * 42, "h")
    assert (f.structured_output, f.reasoning_effort, f.input_bytes, f.hint) == (
        structured, effort, 42, "h",
    )  # fmt: skip


def test_config_refuses_bad_routes() -> None:
    from gateway.yamlfile import ConfigError

    bad = [
        "models: {a: {}}\nroutes: {r: {ladder: [b]}}\n",
        "models: {a: {}}\nroutes: {a: {ladder: [a]}}\n",
        "models: {a: {}}\nroutes: {r: {ladder: [a], split: [{name: x, weight: 50, ladder: [a]}]}}\n",
        "models: {a: {}}\nroutes: {r: {ladder: [a], escalate_on: [bad_vibes]}}\n",
    ]
    for text in bad:
        with pytest.raises(ConfigError):
            parse_config(text)
