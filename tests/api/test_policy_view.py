"""``GET /admin/config``'s tenant policies: what the gateway applies, wildcards and defaults resolved."""

from __future__ import annotations

from typing import Any

from harness import config_dict, env_for_tests, to_yaml

from gateway.api.policy_view import policy_view
from gateway.config import compile_config, parse_config
from gateway.config.runtime import RuntimeConfig


def compiled(config: dict[str, Any]) -> RuntimeConfig:
    return compile_config(parse_config(to_yaml(config), "t.yaml"), env_for_tests())


TEAM = {
    "models": ["gpt-5-nano", "gpt-image-1"],
    "endpoints": ["responses", "images"],
    "tools": ["web_search"],
    "limits": {"rpm": 60, "concurrent": 4, "when_store_down": "open"},
    "budgets": {"daily_usd": "2.5", "models": {"gpt-image-1": {"monthly_usd": 10}}},
    "max_output_tokens": 9000,
    "max_output_tokens_by_model": {"gpt-5-nano": 1024},
    "store": False,
    "tags": {"keys": ["feature", "env"], "from_metadata": True},
    "pii": {"mode": "mask", "entities": ["email", "secret"], "restore": True},
    "functions": ["get_order", "search_*"],
    "cache": {"mode": "opt_in", "ttl_s": 60},
}


def test_a_tenant_policy_is_shown_as_applied() -> None:
    config = compiled(config_dict("http://upstream/v1", tenants={"team": TEAM}, defaults=True))
    view = policy_view(config, config.tenants["team"])
    assert view["disabled"] is False
    assert view["models"] == ["gpt-5-nano", "gpt-image-1"]
    assert (view["endpoints"], view["tools"], view["service_tiers"]) == (
        ["images", "responses"],
        ["web_search"],
        None,  # every tier
    )
    assert view["limits"] == {
        "rpm": 60,
        "tpm": None,
        "concurrent": 4,
        "realtime_sessions": None,
        "when_store_down": "open",
    }
    assert view["budgets"] == {
        "mode": "strict",
        "limits": [
            {
                "window": "day",
                "model": None,
                "scope": "tenant",
                "name": None,
                "mode": "strict",
                "limit_usd": "2.500000",
            },
            {
                "window": "month",
                "model": "gpt-image-1",
                "scope": "model",
                "name": "gpt-image-1",
                "mode": "strict",
                "limit_usd": "10.000000",
            },
        ],
    }
    # The tenant's caps meet the models' own: gpt-image-1 stops at its 6240.
    assert view["output_caps"] == {
        "mode": "clamp",
        "tenant_max_output_tokens": 9000,
        "by_model": {"gpt-5-nano": 1024, "gpt-image-1": 6240},
    }
    assert view["store"] is False
    assert view["files"]["purposes"] == ["*"]
    assert view["tags"] == {"keys": ["env", "feature"], "max_value_len": 64, "from_metadata": True}
    guardrails = view["guardrails"]
    assert guardrails["pii"] == {"mode": "mask", "entities": ["email", "secret"], "restore": True}
    assert guardrails["functions"] == ["get_order", "search_*"]
    assert guardrails["moderation"] is None
    assert guardrails["cache"]["mode"] == "opt_in"
    assert guardrails["cache"]["ttl_s"] == 60


def test_wildcards_are_resolved_and_a_disabled_tenant_says_so() -> None:
    config = compiled(config_dict("http://upstream/v1"))
    alpha = policy_view(config, config.tenants["alpha"])
    assert alpha["models"] == sorted(config.tenants["alpha"].allowed_models)
    assert "gpt-5-nano" in alpha["models"]
    assert "*" not in alpha["models"]
    assert (alpha["endpoints"], alpha["tools"]) == (None, None)  # every family, every tool
    assert alpha["budgets"]["limits"] == []
    assert alpha["limits"]["rpm"] is None
    assert alpha["tags"]["keys"] == []  # no tags accepted
    assert alpha["guardrails"]["functions"] is None  # any function
    assert alpha["guardrails"]["pii"]["mode"] == "off"
    assert policy_view(config, config.tenants["frozen"])["disabled"] is True
