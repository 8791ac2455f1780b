"""The config helpers tests build on: a misspelt path fails instead of changing nothing."""

from __future__ import annotations

import pytest
from harness import config_dict, merged, replaced, to_yaml, with_tenants, without

from gateway.config import ConfigError, parse_config

URL = "http://127.0.0.1:9/v1"


def test_the_base_config_is_valid_and_round_trips_through_yaml() -> None:
    config = config_dict(URL, tenants={"extra": {"models": ["gpt-5-nano"]}}, defaults=True)
    parsed = parse_config(to_yaml(config))
    assert set(parsed.tenants) == {"alpha", "beta", "frozen", "extra"}
    assert parsed.defaults is not None


def test_merged_lays_a_patch_over_a_copy() -> None:
    base = config_dict(URL)
    patched = merged(base, {"upstreams": {"openai": {"retries": {"max_retries": 2}}}})
    assert patched["upstreams"]["openai"]["retries"] == {"max_retries": 2}
    assert patched["upstreams"]["openai"]["base_url"] == URL, "siblings are kept"
    assert base["upstreams"]["openai"]["retries"] == {"max_retries": 0}, "the base is untouched"


def test_a_misspelt_path_fails_loudly() -> None:
    base = config_dict(URL)
    with pytest.raises(KeyError):
        replaced(base, "auth.leway_s", 50)
    with pytest.raises(KeyError):
        without(base, "tenants.betta")
    with pytest.raises(KeyError):
        with_tenants(base, {"alpha": {"models": []}})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config(to_yaml(merged(base, {"server": {"max_body_byte": 1}})))


def test_replaced_and_without_change_exactly_their_path() -> None:
    base = config_dict(URL)
    assert replaced(base, "auth.leeway_s", 50)["auth"] == {**base["auth"], "leeway_s": 50}
    assert set(without(base, "tenants.beta")["tenants"]) == {"alpha", "frozen"}
    assert base["auth"]["leeway_s"] == 5
    assert "beta" in base["tenants"]
