"""`functions:` and `moderation:` in a tenant's policy: what loads and what is refused."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, compile_config, parse_config

MODELS = "models:\n  gpt-5: {}\n  omni-moderation-latest: {}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "t.yaml")
    return [str(p) for p in err.value.problems]


def test_functions_compile_to_an_allow_list_and_star_to_none() -> None:
    text = MODELS + "tenants:\n  a: {functions: [get_weather, 'search_*']}\n  b: {}\n"
    runtime = compile_config(parse_config(text, "t.yaml"), {})
    names = runtime.tenants["a"].functions
    assert names is not None
    assert (names.allows("search_web"), names.allows("get_time")) == (True, False)
    assert runtime.tenants["b"].functions is None


def test_moderation_loads_with_its_defaults() -> None:
    text = MODELS + "tenants:\n  a: {moderation: {categories: [violence]}}\n"
    moderation = compile_config(parse_config(text, "t.yaml"), {}).tenants["a"].moderation
    assert moderation is not None
    assert (moderation.model, moderation.categories, moderation.on_error) == (
        "omni-moderation-latest",
        ["violence"],
        "fail_closed",
    )


def test_moderation_refuses_unknown_categories_and_models() -> None:
    (problem,) = problems(MODELS + "tenants:\n  a: {moderation: {categories: [rudeness]}}\n")
    assert "unknown moderation categories ['rudeness']" in problem
    (problem,) = problems(MODELS + "tenants:\n  a: {moderation: {model: text-mod}}\n")
    assert "tenants.a.moderation.model: unknown model" in problem
    (problem,) = problems(MODELS + "tenants:\n  a: {moderation: {on_error: shrug}}\n")
    assert "on_error" in problem
