"""The auth matrix through the running gateway: every refusal is OpenAI-shaped and says why."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import openai
import pytest
from fakes.jwks import JwksServer
from harness import AUDIENCE, ISSUER, JWT_SECRET, GatewayServer, config_dict, merged

from fake_openai import FakeOpenAIServer


def token(**over: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"tenant": "alpha", "sub": "svc", "iss": ISSUER, "aud": AUDIENCE,
                              "iat": now, "exp": now + 300}  # fmt: skip
    claims.update(over)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, JWT_SECRET, "HS256")


def call(gateway: GatewayServer, auth: str | None) -> httpx.Response:
    headers = {"Authorization": auth} if auth is not None else {}
    return httpx.post(
        f"{gateway.base_url}/responses",
        headers=headers,
        json={"model": "gpt-5-nano", "input": "hi"},
    )


CASES = {
    "missing": (None, 401, "missing_api_key"),
    "not-bearer": ("Basic dXNlcjpwYXNz", 401, "invalid_api_key"),
    "malformed": ("Bearer not.a.jwt", 401, "invalid_api_key"),
    "expired": ("Bearer " + token(exp=int(time.time()) - 120), 401, "token_expired"),
    "not-yet-valid": ("Bearer " + token(nbf=int(time.time()) + 120), 401, "token_not_yet_valid"),
    "wrong-issuer": ("Bearer " + token(iss="https://evil.test/"), 401, "invalid_issuer"),
    "wrong-audience": ("Bearer " + token(aud="another-api"), 401, "invalid_audience"),
    "wrong-signature": (
        "Bearer "
        + jwt.encode(
            {"tenant": "alpha", "exp": int(time.time()) + 60, "iss": ISSUER, "aud": AUDIENCE},
            "x" * 40,
            "HS256",
        ),
        401,
        "invalid_signature",
    ),
    "alg-none": (
        "Bearer " + jwt.encode({"tenant": "alpha"}, "", "none"),
        401,
        "invalid_algorithm",
    ),
    "unknown-tenant": ("Bearer " + token(tenant="gamma"), 403, "unknown_tenant"),
    "disabled-tenant": ("Bearer " + token(tenant="frozen"), 403, "tenant_disabled"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_auth_matrix(case: str, gateway: GatewayServer, fake: FakeOpenAIServer) -> None:
    auth, status, code = CASES[case]
    resp = call(gateway, auth)
    assert resp.status_code == status
    error = resp.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["code"] == code
    if auth is not None and " " in auth:
        assert auth.split(" ", 1)[1] not in resp.text, "the token must never be echoed"
    if status == 401:
        assert resp.headers["www-authenticate"] == "Bearer"
    assert fake.requests == [], "a refused call must not reach the upstream"


def test_sdk_sees_authentication_and_permission_errors(gateway: GatewayServer) -> None:
    bad = openai.OpenAI(base_url=gateway.base_url, api_key="nonsense", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model="gpt-5-nano", input="hi")
    stranger = openai.OpenAI(
        base_url=gateway.base_url, api_key=token(tenant="gamma"), max_retries=0
    )
    with pytest.raises(openai.PermissionDeniedError):
        stranger.models.list()


def test_unlisted_tenants_get_defaults_when_configured(
    fake_server: FakeOpenAIServer, db_url: str
) -> None:
    with GatewayServer(config_dict(fake_server.base_url, defaults=True), database_url=db_url) as gw:
        stranger = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("gamma"), max_retries=0)
        assert [m.id for m in stranger.models.list()] == ["gpt-5-nano"]
        assert stranger.responses.create(model="gpt-5-nano", input="hi").status == "completed"
        with pytest.raises(openai.PermissionDeniedError):
            stranger.responses.create(model="gpt-4.1", input="hi")


def test_rs256_gateway_refuses_hs256_tokens(fake_server: FakeOpenAIServer, db_url: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid="k1", alg="RS256")
    with JwksServer([jwk]) as jwks:
        auth = {"algorithms": ["RS256"], "hs256_secret_env": None, "jwks_url": jwks.url}
        config = merged(config_dict(fake_server.base_url), {"auth": auth})
        with GatewayServer(config, database_url=db_url) as gw:
            now = int(time.time())
            claims = {"tenant": "alpha", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}
            good = jwt.encode(claims, key, "RS256", headers={"kid": "k1"})
            assert call(gw, f"Bearer {good}").status_code == 200
            hs = jwt.encode(claims, JWT_SECRET, "HS256")
            refused = call(gw, f"Bearer {hs}")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_algorithm"
