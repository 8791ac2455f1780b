"""A reload says what it changed: tenants, models, routes and upstreams by name, the rest whole."""

from __future__ import annotations

from typing import Any

from harness import config_dict, env_for_tests, to_yaml, with_tenants

from gateway.config import compile_config, parse_config
from gateway.config.diff import changes
from gateway.config.runtime import RuntimeConfig


def compiled(config: dict[str, Any]) -> RuntimeConfig:
    return compile_config(parse_config(to_yaml(config), "t.yaml"), env_for_tests())


def test_added_removed_and_changed_entries_are_named() -> None:
    base = config_dict("http://upstream/v1", tenants={"search": {"models": ["*"]}})
    old = compiled(base)
    new_config = with_tenants(
        {**base, "tenants": {k: v for k, v in base["tenants"].items() if k != "frozen"}},
        {"ads": {"models": ["gpt-5-nano"]}},
    )
    new_config["tenants"]["search"] = {"models": ["gpt-5-nano"]}
    new_config["defaults"] = {"models": ["gpt-5-nano"]}
    assert changes(old, compiled(new_config)) == [
        "tenants +ads -frozen ~search",
        "defaults changed",
    ]
    assert changes(old, compiled(base)) == []
