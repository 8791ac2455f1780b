"""Config loading: good files compile, bad ones are refused with file, path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, compile_config, load_config, parse_config
from gateway.config.schema import config_schema_json

ROOT = Path(__file__).resolve().parents[2]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "t.yaml")
    return [str(p) for p in err.value.problems]


def test_shipped_config_is_valid_and_reads_the_documented_env_vars() -> None:
    cfg = load_config(ROOT / "config" / "gateway.yaml")
    env = {
        "OPENAI_BASE_URL": "http://127.0.0.1:9100/v1/",
        "OPENAI_API_KEY": "sk-x",
        "GATEWAY_JWT_SECRET": "s",
    }
    runtime = compile_config(cfg, env)
    openai = runtime.upstreams["openai"]
    assert openai.base_url == "http://127.0.0.1:9100/v1"
    assert openai.api_key == "sk-x"
    assert runtime.hs_secret == b"s"
    assert runtime.policy_for("someone-unlisted") is not None


def test_base_url_defaults_to_openai_without_the_env_var() -> None:
    cfg = load_config(ROOT / "config" / "gateway.yaml")
    assert compile_config(cfg, {}).upstreams["openai"].base_url == "https://api.openai.com/v1"


def test_unknown_keys_are_named_with_their_line() -> None:
    text = "models:\n  gpt-5: {}\ntenants:\n  a:\n    modles: [gpt-5]\n"
    assert problems(text) == ["t.yaml:5: tenants.a.modles: unknown key"]


def test_bad_values_are_named_with_their_line() -> None:
    text = "models:\n  gpt-5: {}\nupstreams:\n  openai:\n    max_connections: -1\n"
    (problem,) = problems(text)
    assert problem.startswith("t.yaml:5: upstreams.openai.max_connections:")


def test_dangling_references_are_refused() -> None:
    text = "models:\n  gpt-5: {upstream: azure}\n"
    assert problems(text) == ["t.yaml:2: models.gpt-5.upstream: unknown upstream 'azure'"]
    text = "models:\n  gpt-5: {}\ntenants:\n  a: {models: [gpt-6]}\n"
    assert problems(text) == ["t.yaml:4: tenants.a.models: unknown model or route 'gpt-6'"]


def test_algorithms_need_their_key_source() -> None:
    (problem,) = problems("auth: {algorithms: [ES256]}\nmodels: {gpt-5: {}}\n")
    assert "jwks_url" in problem
    (problem,) = problems("auth: {algorithms: [none]}\nmodels: {gpt-5: {}}\n")
    assert "auth.algorithms.0" in problem


def test_invalid_yaml_and_wrong_top_level() -> None:
    (problem,) = problems("models: [unclosed\n")
    assert "invalid YAML" in problem
    assert problems("- a\n- b\n") == ["t.yaml:1: <root>: the top level must be a mapping"]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.yaml")


def test_wildcard_expands_to_every_model_and_defaults_are_optional() -> None:
    runtime = compile_config(
        parse_config("models: {a: {}, b: {}}\ntenants: {t: {models: ['*']}}\n"), {}
    )
    policy = runtime.policy_for("t")
    assert policy is not None
    assert policy.allowed_models == {"a", "b"}
    assert runtime.policy_for("unlisted") is None


def test_checked_in_schema_is_current() -> None:
    checked_in = (ROOT / "config" / "gateway.schema.json").read_bytes()
    assert checked_in == config_schema_json(), (
        "regenerate with: gateway config schema --write config/gateway.schema.json"
    )
