"""`routes.R.shadow` and `shadow:`: what loads, and what is refused before a shadow could run
without a bound or a payer."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, compile_config, parse_config
from gateway.routing import NO_FEATURES, plan

BASE = """
models: {small: {}, candidate: {}}
routes:
  r: {ladder: [small], shadow: {ladder: [candidate], sample: 0.25}}
tenants:
  app: {models: [r]}
  shadows: {budgets: {monthly_usd: 100}}
  unbudgeted: {}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "t.yaml")
    return [str(p) for p in err.value.problems]


def test_a_routes_shadow_is_in_every_plan_of_the_route() -> None:
    runtime = compile_config(parse_config(BASE + "shadow: {charge_to: shadows}\n", "t.yaml"), {})
    planned = plan(runtime, "r", NO_FEATURES, "key")
    assert planned.shadow is not None
    assert ([m.name for m in planned.shadow.ladder], planned.shadow.sample) == (["candidate"], 0.25)
    assert runtime.source.shadow.max_in_flight == 4
    assert plan(runtime, "small", NO_FEATURES, "key").shadow is None, "a model named directly"


def test_charged_to_the_caller_is_allowed() -> None:
    parse_config(BASE + "shadow: {charge_to: caller}\n", "t.yaml")


@pytest.mark.parametrize(("shadow", "expected"), [
    ("", "routes.r shadow calls; name the tenant that pays for them"),
    ("shadow: {charge_to: nobody}\n", "unknown tenant 'nobody'"),
    ("shadow: {charge_to: unbudgeted}\n", "has no daily or monthly budget"),
])  # fmt: skip
def test_shadows_without_an_account_with_a_budget_are_refused(shadow: str, expected: str) -> None:
    (problem,) = problems(BASE + shadow)
    assert expected in problem


def test_a_shadow_ladder_names_configured_models_and_samples_within_one() -> None:
    unknown = (
        BASE.replace("ladder: [candidate]", "ladder: [nope]") + "shadow: {charge_to: caller}\n"
    )
    assert any("routes.r.shadow.ladder: unknown model 'nope'" in p for p in problems(unknown))
    for sample in ("0", "1.5"):
        text = BASE.replace("sample: 0.25", f"sample: {sample}") + "shadow: {charge_to: caller}\n"
        assert any("sample" in p for p in problems(text))


def test_route_explain_says_what_shadows_the_route_and_who_pays() -> None:
    from gateway.explain import explain

    runtime = compile_config(parse_config(BASE + "shadow: {charge_to: shadows}\n", "t.yaml"), {})
    said, ok = explain(runtime, "app", b'{"model": "r", "input": "hi"}', hint=None, split_key="k")
    assert ok
    assert "shadow:       candidate on 25% of calls, after the answer, charged to shadows" in said
