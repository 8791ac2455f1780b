"""budget_levels: what the budget gauges show at scrape time."""

from __future__ import annotations

import time

from gateway.config import GatewayConfig, compile_config
from gateway.db import make_engine
from gateway.quota.memory import MemoryQuota
from gateway.services import Services
from gateway.telemetry.budgets import budget_levels
from gateway.telemetry.collectors import BudgetLevel

CONFIG = {
    "models": {"m": {}, "n": {}},
    "tenants": {
        "team": {
            "models": ["*"],
            "budgets": {"daily_usd": 5, "monthly_usd": 100, "models": {"n": {"daily_usd": 1}}},
        },
        "free": {"models": ["*"]},
    },
    "defaults": {"models": ["*"], "budgets": {"daily_usd": 2}},
}
USD = 1_000_000_000


def services() -> Services:
    return Services(
        compile_config(GatewayConfig.model_validate(CONFIG), {}), make_engine("sqlite://")
    )


def levels(s: Services) -> dict[tuple[str, str, str], tuple[float, float]]:
    return {
        (lv.tenant, lv.window, lv.model): (lv.limit_usd, lv.remaining_usd)
        for lv in budget_levels(s.config, s.quota)
    }


def test_every_configured_budget_shows_before_any_call() -> None:
    s = services()
    assert levels(s) == {
        ("team", "day", "_all"): (5, 5),
        ("team", "month", "_all"): (100, 100),
        ("team", "day", "n"): (1, 1),
    }


def in_memory(s: Services) -> MemoryQuota:
    assert isinstance(s.quota, MemoryQuota)
    return s.quota


def test_a_reservation_lowers_the_level_and_settling_sets_the_real_cost() -> None:
    s = services()
    policy = s.config.tenants["team"]
    now = time.time()
    ticket = in_memory(s).admit_now("team", "n", policy, bound=USD // 2, tokens=0, now=now)
    assert levels(s)[("team", "day", "n")] == (1, 0.5)
    in_memory(s).settle(ticket, USD // 10, 0, now)
    assert levels(s)[("team", "day", "n")] == (1, 0.9)
    assert levels(s)[("team", "month", "_all")] == (100, 99.9)


def test_unlisted_tenants_share_the_default_label_showing_the_lowest() -> None:
    s = services()
    defaults = s.config.defaults
    assert defaults is not None
    now = time.time()
    quota = in_memory(s)
    quota.settle(quota.admit_now("x", "m", defaults, bound=USD, tokens=0, now=now), USD, 0, now)
    quota.admit_now("y", "m", defaults, bound=USD // 4, tokens=0, now=now)
    assert levels(s)[("_default", "day", "_all")] == (2, 1)
    assert not any(key[0] in ("x", "y") for key in levels(s)), "no raw tenant ids as labels"


def test_the_gauges_are_exported_from_the_levels() -> None:
    s = services()
    text = s.metrics.exposition().decode()
    assert 'gateway_budget_limit_usd{model="n",tenant="team",window="day"} 1.0' in text
    assert 'gateway_budget_remaining_usd{model="_all",tenant="team",window="month"} 100.0' in text
    assert isinstance(budget_levels(s.config, s.quota)[0], BudgetLevel)


def test_service_and_tag_budgets_have_their_own_series_and_never_stand_in_for_the_total() -> None:
    raw = {
        "models": {"m": {}},
        "tenants": {
            "team": {
                "models": ["*"],
                "budgets": {"daily_usd": 5},
                "services": {"known": {"search": {"budgets": {"daily_usd": 0.5}}}},
                "tags": {"keys": ["env"], "budgets": {"env=prod": {"monthly_usd": 2}}},
            }
        },
    }
    s = Services(compile_config(GatewayConfig.model_validate(raw), {}), make_engine("sqlite://"))
    found = {(lv.tenant, lv.window, lv.model, lv.scope): lv.limit_usd for lv in budget_levels(s.config, s.quota)}  # fmt: skip
    assert found == {
        ("team", "day", "_all", None): 5,  # the tenant's total, not the service's 0.5 (lowest)
        ("team", "day", "_all", "service:search"): 0.5,
        ("team", "month", "_all", "tag:env=prod"): 2,
    }
    text = s.metrics.exposition().decode()
    assert 'gateway_budget_limit_usd{model="_all",tenant="team",window="day"} 5.0' in text
    assert 'gateway_budget_scope_limit_usd{scope="service:search",tenant="team",window="day"} 0.5' in text  # fmt: skip
    assert 'gateway_budget_scope_remaining_usd{scope="tag:env=prod",tenant="team",window="month"} 2.0' in text  # fmt: skip
    assert 'gateway_budget_limit_usd{model="_all",tenant="team",window="month"}' not in text
