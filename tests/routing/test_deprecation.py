"""Deprecated models in a plan (pure): the action in force on a day, rewritten and dropped
rungs, and the config's validation of rewrites."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.config import ConfigError, GatewayConfig, compile_config, parse_config
from gateway.routing import NO_FEATURES, deprecation, plan
from gateway.routing.deprecation import ModelRetired

DAY = dt.date(2026, 12, 5)
CONFIG = compile_config(
    GatewayConfig.model_validate(
        {
            "models": {"old": {}, "gone": {}, "new": {}, "alias": {"upstream_model": "ancient"}},
            "routes": {
                "main": {"ladder": ["old", "gone", "new"]},
                "dead": {"ladder": ["gone"]},
            },
            "deprecations": {
                "old": {"sunset": "2026-10-23", "replacement": "new", "action": "rewrite"},
                "gone": {"sunset": "2026-10-23", "action": "refuse", "from": "2026-12-01"},
                "ancient": {"sunset": "2027-01-01", "replacement": "new"},
            },
        }
    ),
    {},
)


def test_the_action_holds_from_its_date_and_only_warns_before() -> None:
    entry = CONFIG.source.deprecations["gone"]
    assert entry.action_on(dt.date(2026, 11, 30)) == "warn"
    assert entry.action_on(dt.date(2026, 12, 1)) == "refuse"
    assert entry.deprecated_on == dt.date(2026, 12, 1)  # no `announced`: `from`


def test_a_rewritten_model_plans_its_replacement() -> None:
    model, notice = deprecation.requested(CONFIG, "old", DAY)
    assert model == "new"
    assert notice is not None
    assert (notice.model, notice.action) == ("old", "rewrite")
    assert (b"x-gateway-rewritten-from", b"old") in notice.headers()


def test_a_refused_model_raises_openais_not_found_naming_it() -> None:
    with pytest.raises(ModelRetired) as err:
        deprecation.requested(CONFIG, "gone", DAY)
    assert (err.value.status, err.value.code, err.value.param) == (404, "model_not_found", "model")
    assert "`gone`" in err.value.message
    assert err.value.headers["sunset"] == "Fri, 23 Oct 2026 00:00:00 GMT"
    model, notice = deprecation.requested(CONFIG, "gone", dt.date(2026, 11, 1))
    assert model == "gone"
    assert notice is not None
    assert notice.action == "warn"


def test_an_entry_matches_a_models_upstream_name() -> None:
    model, notice = deprecation.requested(CONFIG, "alias", DAY)
    assert model == "alias"
    assert notice is not None
    assert (notice.model, notice.action) == ("alias", "warn")
    assert notice.entry.replacement == "new"


def test_a_routes_rungs_are_rewritten_and_refused_ones_dropped() -> None:
    planned, notice = deprecation.ladder(CONFIG, plan(CONFIG, "main", NO_FEATURES, "k"), DAY)
    assert [m.name for m in planned.ladder] == ["new"]  # old → new, gone dropped, new once
    assert notice is not None
    assert notice.model == "old"
    assert planned.why.endswith("deprecated rungs")
    with pytest.raises(ModelRetired):
        deprecation.ladder(CONFIG, plan(CONFIG, "dead", NO_FEATURES, "k"), DAY)


def test_a_model_not_deprecated_leaves_the_plan_as_it_was() -> None:
    planned = plan(CONFIG, "new", NO_FEATURES, "k")
    assert deprecation.ladder(CONFIG, planned, DAY) == (planned, None)
    assert deprecation.requested(CONFIG, "new", DAY) == ("new", None)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{sunset: 2026-01-01, action: rewrite}", "action rewrite needs a replacement"),
        ("{sunset: 2026-01-01, action: rewrite, replacement: nope}", "unknown model 'nope'"),
        ("{sunset: 2026-01-01, action: rewrite, replacement: a}", "'a' is itself rewritten"),
        ("{sunset: 2026-01-01, action: sometimes}", "action"),
        ("{sunset: someday}", "sunset"),
    ],
)
def test_a_rewrite_must_land_on_a_configured_model(entry: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"models: {{a: {{}}, b: {{}}}}\ndeprecations: {{a: {entry}}}\n")
    assert problem in str(err.value)


def test_a_warning_may_name_a_replacement_the_gateway_does_not_serve() -> None:
    cfg = parse_config("models: {a: {}}\ndeprecations: {a: {sunset: 2026-01-01, replacement: z}}\n")
    assert cfg.deprecations["a"].replacement == "z"
