"""Config loading: good files compile, bad ones are refused with file, path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, GatewayConfig, compile_config, load_config, parse_config
from gateway.config.schema import config_schema_json

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 32


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "t.yaml")
    return [str(p) for p in err.value.problems]


def test_shipped_config_is_valid_and_reads_the_documented_env_vars() -> None:
    cfg = load_config(ROOT / "config" / "gateway.yaml")
    env = {
        "OPENAI_BASE_URL": "http://127.0.0.1:9100/v1/",
        "OPENAI_API_KEY": "sk-x",
        "GATEWAY_JWT_SECRET": SECRET,
    }
    runtime = compile_config(cfg, env)
    openai = runtime.upstreams["openai"]
    assert openai.base_url == "http://127.0.0.1:9100/v1"
    assert openai.api_key == "sk-x"
    assert runtime.hs_secret == SECRET.encode()
    assert runtime.policy_for("someone-unlisted") is not None


def test_base_url_defaults_to_openai_without_the_env_var() -> None:
    cfg = load_config(ROOT / "config" / "gateway.yaml")
    assert compile_config(cfg, {}).upstreams["openai"].base_url == "https://api.openai.com/v1"


def test_unknown_keys_are_named_with_their_line() -> None:
    text = "models:\n  gpt-5: {}\ntenants:\n  a:\n    modles: [gpt-5]\n"
    assert problems(text) == ["t.yaml:5: tenants.a.modles: unknown key (did you mean 'models'?)"]


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
    assert problem == (
        "t.yaml:2:1: <root>: invalid YAML: while parsing a flow sequence: "
        "expected ',' or ']', but got '<stream end>'"
    ), "file:line:col and the parser's words, not its internals"
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


def hs_config(*algorithms: str) -> GatewayConfig:
    return GatewayConfig.model_validate({"auth": {"algorithms": algorithms}, "models": {"m": {}}})


@pytest.mark.parametrize(
    ("algorithms", "shortest"),
    [(("HS256",), 32), (("HS256", "HS384"), 48), (("HS512",), 64)],
)
def test_an_hs_secret_shorter_than_its_hash_is_refused(
    algorithms: tuple[str, ...], shortest: int
) -> None:
    cfg = hs_config(*algorithms)
    assert compile_config(cfg, {"GATEWAY_JWT_SECRET": "k" * shortest}).hs_secret == (
        b"k" * shortest
    )
    with pytest.raises(ConfigError) as err:
        compile_config(cfg, {"GATEWAY_JWT_SECRET": "k" * (shortest - 1)})
    (problem,) = err.value.problems
    assert problem.path == "auth.hs256_secret_env"
    assert f"GATEWAY_JWT_SECRET is {shortest - 1} bytes" in problem.message
    assert f"at least {shortest} bytes" in problem.message
    assert "k" * 8 not in str(problem), "the secret itself is never echoed"


def test_a_nine_byte_secret_is_refused_and_no_secret_is_not_a_short_one() -> None:
    with pytest.raises(ConfigError):
        compile_config(hs_config("HS256"), {"GATEWAY_JWT_SECRET": "123456789"})
    assert compile_config(hs_config("HS256"), {}).hs_secret is None


def test_shipped_config_is_a_safe_production_starting_point() -> None:
    cfg = load_config(ROOT / "config" / "gateway.yaml")
    policies = {f"tenants.{name}": p for name, p in cfg.tenants.items()}
    assert cfg.defaults is not None
    policies["defaults"] = cfg.defaults
    for where, policy in policies.items():
        assert "*" not in policy.models, f"{where} may use every model"
        assert policy.budgets.mode == "strict", where
        assert policy.budgets.daily_usd is not None or policy.budgets.monthly_usd is not None, (
            f"{where} has no budget"
        )
    narrow = cfg.defaults
    assert narrow.models == ["gpt-5.4-nano", "text-embedding-3-small", "omni-moderation-latest"], (
        "unlisted tenants: one cheap model and input-only ones, no routes"
    )
    assert set(narrow.endpoints) == {"responses", "chat", "embeddings", "moderations"}, (
        "unlisted tenants store nothing upstream"
    )
    assert narrow.budgets.daily_usd is not None
    assert narrow.budgets.daily_usd <= 1
    assert narrow.limits.rpm is not None
    assert narrow.limits.concurrent is not None
    assert narrow.tools == [], "no fee-charging hosted tools for unlisted tenants"
    assert cfg.server.metrics_port not in (0, 8080)


def test_demo_config_is_valid_and_permissive_for_the_fake_upstream() -> None:
    cfg = load_config(ROOT / "config" / "demo.yaml")
    runtime = compile_config(cfg, {})
    demo = runtime.policy_for("demo")
    assert demo is not None
    assert demo.allowed_models >= set(runtime.models)
    assert demo.budgets == ()


def test_tags_are_configured_per_tenant_and_in_defaults_within_what_the_ledger_keeps() -> None:
    text = (
        "models: {gpt-5: {}}\n"
        "defaults: {tags: {keys: [env]}}\n"
        "tenants:\n  a: {tags: {keys: [feature, env], max_value_len: 32, from_metadata: true}}\n"
    )
    runtime = compile_config(parse_config(text), {})
    a, unlisted = runtime.policy_for("a"), runtime.policy_for("unlisted")
    assert a is not None
    assert unlisted is not None
    assert (a.tags.keys, a.tags.max_value_len, a.tags.from_metadata) == (
        ["feature", "env"],
        32,
        True,
    )
    assert (unlisted.tags.keys, unlisted.tags.max_value_len) == (["env"], 64)
    (bad_key,) = problems("models: {gpt-5: {}}\ntenants:\n  a: {tags: {keys: [Feature]}}\n")
    assert bad_key.startswith("t.yaml:3: tenants.a.tags.keys.0:")
    eight = ", ".join(f"key{i}" for i in range(8))
    text = f"models: {{gpt-5: {{}}}}\ntenants:\n  a: {{tags: {{keys: [{eight}], max_value_len: 128}}}}\n"
    (too_long,) = problems(text)
    assert "the ledger keeps 512" in too_long
