"""Admin tokens: the role decides, not the tenant; a revoked or disabled one is still refused."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from harness import config_dict, env_for_tests, merged, to_yaml

from gateway.auth import TokenVerifier, mint_token
from gateway.auth.callers import NO_ACCESS, Authenticator, Caller
from gateway.config import RuntimeConfig, compile_config, parse_config
from gateway.errors import AuthenticationFailed, PermissionDenied
from gateway.realtime.secrets import ClientSecrets


def runtime(revoked: dict[str, list[str]] | None = None) -> RuntimeConfig:
    config = config_dict("http://upstream/v1")
    if revoked:
        config = merged(config, {"revoked": revoked})
    return compile_config(parse_config(to_yaml(config), "t.yaml"), env_for_tests())


def admin_of(config: RuntimeConfig, tenant: str, *, admin: bool = True) -> str:
    assert config.hs_secret is not None
    return mint_token(config.auth, config.hs_secret, tenant, admin=admin, ttl_s=600, subject="ops")


def check(auth: Authenticator, token: str) -> Caller:
    """What the ``admin`` dependency does with a bearer token."""

    async def run() -> Caller:
        return auth.admin(await auth.principal(f"Bearer {token}"))

    return asyncio.run(run())


@pytest.fixture
def holder() -> list[RuntimeConfig]:
    return [runtime()]


@pytest.fixture
def auth(holder: list[RuntimeConfig]) -> Authenticator:
    config = holder[0]
    return Authenticator(
        TokenVerifier(config.auth, config.hs_secret, None), ClientSecrets(), lambda: holder[0]
    )


def test_an_admin_token_need_not_name_a_configured_tenant(
    auth: Authenticator, holder: list[RuntimeConfig]
) -> None:
    config = holder[0]
    assert "platform-ops" not in config.tenants
    assert config.defaults is None  # a team's token of this tenant would be refused
    ops = check(auth, admin_of(config, "platform-ops"))
    assert (ops.tenant, ops.policy) == ("platform-ops", NO_ACCESS)
    with pytest.raises(PermissionDenied) as err:
        asyncio.run(auth.caller(f"Bearer {admin_of(config, 'platform-ops')}"))
    assert err.value.code == "unknown_tenant"  # it calls no model: it has no tenant's policy
    alpha = check(auth, admin_of(config, "alpha"))
    assert (alpha.tenant, alpha.policy) == ("alpha", config.tenants["alpha"])


def test_without_the_role_or_with_a_disabled_tenant_or_revoked_it_is_refused(
    auth: Authenticator, holder: list[RuntimeConfig]
) -> None:
    config = holder[0]
    with pytest.raises(PermissionDenied) as err:
        check(auth, admin_of(config, "alpha", admin=False))
    assert err.value.code == "admin_required"
    with pytest.raises(PermissionDenied) as err:
        check(auth, admin_of(config, "nobody", admin=False))
    assert err.value.code == "admin_required"  # the role is checked first
    with pytest.raises(PermissionDenied) as err:
        check(auth, admin_of(config, "frozen"))
    assert err.value.code == "tenant_disabled"
    token = admin_of(config, "platform-ops")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    holder[0] = runtime({"token_ids": [jti]})
    with pytest.raises(AuthenticationFailed) as err_401:
        check(auth, token)
    assert err_401.value.code == "token_revoked"
