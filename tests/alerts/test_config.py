"""The ``alerts:`` section and who gets what (`gateway.config.alerts`, `gateway.alerts.rules`)."""

from __future__ import annotations

from typing import Any

import pytest
from alerts.fakes import runtime
from pydantic import ValidationError

from gateway.alerts.rules import TenantRules, rules_for
from gateway.config.alerts import AlertsConfig, Webhook

HOOK = {"url": "https://hooks.example.com/in", "secret_env": "HOOK_SECRET"}


def invalid(**section: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        AlertsConfig.model_validate(section)
    return str(raised.value)


def test_the_defaults_are_50_80_100_percent_every_minute_with_forecasts() -> None:
    section = AlertsConfig()
    assert (section.thresholds, section.interval_s, section.forecast) == ([50, 80, 100], 60, True)
    assert section.webhooks == {}  # nothing is sent until a webhook is configured


def test_a_webhook_has_one_url_and_a_json_one_a_secret() -> None:
    assert "exactly one of url and url_env" in invalid(webhooks={"a": {"format": "slack"}})
    both = {**HOOK, "url_env": "HOOK_URL"}
    assert "exactly one of url and url_env" in invalid(webhooks={"a": both})
    assert "set secret_env" in invalid(webhooks={"a": {"url": "https://x.example/in"}})


def test_thresholds_are_percents_and_the_lease_outlasts_an_attempt() -> None:
    assert "percents from 1 to 1000" in invalid(thresholds=[0, 50])
    slow = {**HOOK, "timeout_s": 30}
    assert "lease_s must be at least twice" in invalid(webhooks={"a": slow}, lease_s=45)
    AlertsConfig.model_validate({"webhooks": {"a": slow}, "lease_s": 60})


def test_a_webhook_is_logged_by_scheme_and_host_only() -> None:
    hook = Webhook(
        "a", "https://user:pw@hooks.slack.com:8443/services/T/B/secret?x=1", "slack", None, 5
    )
    assert hook.safe_url == "https://hooks.slack.com:8443"


def test_tenants_get_their_own_webhooks_and_thresholds_or_the_sections() -> None:
    hooks = {"hook": HOOK, "chat": {"url": "https://hooks.slack.test/x", "format": "slack"}}
    config = runtime(
        {"webhooks": hooks, "thresholds": [80, 50]},
        {
            "plain": {},
            "own": {"alerts": {"webhooks": ["chat"], "thresholds": [95, 90, 95]}},
            "off": {"alerts": {"enabled": False}},
        },
    )
    assert rules_for(config, "plain") == TenantRules((50, 80), ("hook", "chat"))
    assert rules_for(config, "own") == TenantRules((90, 95), ("chat",))
    assert rules_for(config, "off") is None
    assert rules_for(config, "unlisted") is None  # no defaults: not served, not watched
    narrowed = runtime({"webhooks": hooks, "default_webhooks": ["chat"]}, {"plain": {}})
    assert rules_for(narrowed, "plain") == TenantRules((50, 80, 100), ("chat",))
    assert rules_for(runtime({"enabled": False}), "acme") is None
