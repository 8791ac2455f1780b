"""Tokens refused before they expire (a hot-reloaded deny-list), and HS secret rotation."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from harness import config_dict, env_for_tests, merged, to_yaml

from gateway.auth import TokenVerifier, mint_token
from gateway.auth.callers import Authenticator
from gateway.config import RuntimeConfig, compile_config, parse_config
from gateway.errors import AuthenticationFailed
from gateway.realtime.secrets import ClientSecrets

OLD = "an-old-secret-that-is-long-enough-for-hs256!"
NEW = "a-new-secret-that-is-long-enough-for-hs256!!"


def runtime(revoked: dict[str, list[str]] | None = None, **env: str) -> RuntimeConfig:
    config = config_dict("http://upstream/v1")
    if revoked:
        config = merged(config, {"revoked": revoked})
    return compile_config(parse_config(to_yaml(config), "t.yaml"), {**env_for_tests(), **env})


def authenticator(config: RuntimeConfig, holder: list[RuntimeConfig]) -> Authenticator:
    verifier = TokenVerifier(
        config.auth, config.hs_secret, None, previous_secret=config.hs_previous_secret
    )
    return Authenticator(verifier, ClientSecrets(), lambda: holder[0])


def token(config: RuntimeConfig, secret: bytes, subject: str = "svc") -> str:
    return mint_token(config.auth, secret, "alpha", admin=False, ttl_s=600, subject=subject)


def test_a_revoked_token_id_or_subject_is_refused_at_once_even_when_cached() -> None:
    config = runtime()
    holder = [config]
    auth = authenticator(config, holder)
    assert config.hs_secret is not None
    kept, dropped = token(config, config.hs_secret), token(config, config.hs_secret)
    other = token(config, config.hs_secret, subject="leaky-svc")
    for t in (kept, dropped, other):  # verified and cached
        assert asyncio.run(auth.caller(f"Bearer {t}")).tenant == "alpha"
    jti = jwt.decode(dropped, options={"verify_signature": False})["jti"]
    holder[0] = runtime({"token_ids": [jti], "subjects": ["leaky-svc"]})  # a hot reload
    for t in (dropped, other):
        with pytest.raises(AuthenticationFailed) as err:
            asyncio.run(auth.caller(f"Bearer {t}"))
        assert err.value.code == "token_revoked"
    assert asyncio.run(auth.caller(f"Bearer {kept}")).tenant == "alpha"


def test_during_a_rotation_tokens_of_both_secrets_verify() -> None:
    plain = runtime(TEST_JWT_SECRET=NEW)
    assert plain.hs_previous_secret is None, "no previous secret unless configured"
    rotating = compile_config(
        parse_config(to_yaml(merged(config_dict("http://upstream/v1"), ROTATION)), "t.yaml"),
        {**env_for_tests(), "TEST_JWT_SECRET": NEW, "OLD_SECRET": OLD},
    )
    before, after = token(plain, OLD.encode()), token(plain, NEW.encode())
    auth = authenticator(rotating, [rotating])
    for t in (before, after):
        assert asyncio.run(auth.caller(f"Bearer {t}")).tenant == "alpha"
    with pytest.raises(AuthenticationFailed) as err:
        asyncio.run(authenticator(plain, [plain]).caller(f"Bearer {before}"))
    assert err.value.code == "invalid_signature", "once the rotation is over, old tokens go"


ROTATION = {"auth": {"hs256_previous_secret_env": "OLD_SECRET"}}
