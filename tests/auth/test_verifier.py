"""TokenVerifier: the JWT rules, one case per way a token can be wrong."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fakes.jwks import JwksServer
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import HttpUrl

from gateway.auth import JwksCache, Principal, TokenVerifier
from gateway.config.model import AuthConfig
from gateway.errors import AuthenticationFailed

SECRET = b"unit-test-secret-" + b"0123456789abcdef" * 4
LEEWAY = 5
HS = AuthConfig(algorithms=["HS256"], issuer="iss-a", audience="aud-a", leeway_s=LEEWAY)
NOW = 1_900_000_000  # the verifier's clock: tokens are judged at this instant, not at wall time


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def claims(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tenant": "alpha",
        "sub": "svc",
        "iss": "iss-a",
        "aud": "aud-a",
        "iat": NOW,
        "exp": NOW + 3600,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def verify(token: str, cfg: AuthConfig = HS, jwks: JwksCache | None = None) -> Principal:
    return asyncio.run(TokenVerifier(cfg, SECRET, jwks, clock=Clock()).verify(token))


def rejected(token: str, cfg: AuthConfig = HS, jwks: JwksCache | None = None) -> str | None:
    with pytest.raises(AuthenticationFailed) as err:
        verify(token, cfg, jwks)
    assert err.value.status == 401
    assert token not in err.value.message
    return err.value.code


def test_a_good_token_yields_the_principal() -> None:
    p = verify(jwt.encode(claims(roles=["gateway-admin"]), SECRET, "HS256"))
    assert (p.tenant, p.subject, p.is_admin) == ("alpha", "svc", True)


def test_admin_role_is_needed_for_admin() -> None:
    assert not verify(jwt.encode(claims(roles="reader"), SECRET, "HS256")).is_admin


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("not-a-jwt", "invalid_api_key"),
        (jwt.encode(claims(exp=NOW - 60), SECRET, "HS256"), "token_expired"),
        (jwt.encode(claims(nbf=NOW + 3600), SECRET, "HS256"), "token_not_yet_valid"),
        (jwt.encode(claims(iat=NOW + 3600), SECRET, "HS256"), "token_not_yet_valid"),
        (jwt.encode(claims(exp=NOW - 60, iss="x"), SECRET, "HS256"), "token_expired"),
        (jwt.encode(claims(iss="someone-else"), SECRET, "HS256"), "invalid_issuer"),
        (jwt.encode(claims(aud="other-service"), SECRET, "HS256"), "invalid_audience"),
        (jwt.encode(claims(), b"a-different-secret-000000000000000", "HS256"), "invalid_signature"),
        (jwt.encode(claims(), "", "none"), "invalid_algorithm"),
        (jwt.encode(claims(), SECRET, "HS512"), "invalid_algorithm"),
        (jwt.encode(claims(tenant=None), SECRET, "HS256"), "missing_tenant"),
        (jwt.encode(claims(exp=None), SECRET, "HS256"), "invalid_api_key"),
    ],
    ids=[
        "malformed", "expired", "not-yet-valid", "issued-in-the-future",
        "expired-and-wrong-issuer", "wrong-issuer", "wrong-audience",
        "wrong-signature", "alg-none", "alg-not-allowed", "no-tenant", "no-exp",
    ],
)  # fmt: skip
def test_bad_tokens_are_refused_with_a_reason(token: str, code: str) -> None:
    assert rejected(token) == code


def test_leeway_accepts_a_token_just_expired() -> None:
    assert verify(jwt.encode(claims(exp=NOW - 2), SECRET, "HS256")).tenant == "alpha"


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"exp": NOW - LEEWAY + 1}, None),
        ({"exp": NOW - LEEWAY}, "token_expired"),
        ({"nbf": NOW + LEEWAY}, None),
        ({"nbf": NOW + LEEWAY + 1}, "token_not_yet_valid"),
    ],
    ids=["exp-inside-leeway", "exp-at-leeway", "nbf-at-leeway", "nbf-past-leeway"],
)
def test_the_leeway_boundaries_are_pyjwts(over: dict[str, int], code: str | None) -> None:
    token = jwt.encode(claims(**over), SECRET, "HS256")
    if code is None:
        assert verify(token).tenant == "alpha"
    else:
        assert rejected(token) == code


def _rsa_jwk(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", alg="RS256")
    return key, jwk


def _ec_jwk(kid: str) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", alg="ES256")
    return key, jwk


RS_CFG_ARGS: dict[str, Any] = {
    "algorithms": ["RS256", "ES256"],
    "hs256_secret_env": None,
    "issuer": "iss-a",
    "audience": "aud-a",
    "jwks_min_refetch_s": 60,
}


def test_rs256_and_es256_via_jwks_and_hs_confusion_is_impossible() -> None:
    rsa_key, rsa_jwk = _rsa_jwk("r1")
    ec_key, ec_jwk = _ec_jwk("e1")
    with JwksServer([rsa_jwk, ec_jwk]) as server:
        cfg = AuthConfig(jwks_url=HttpUrl(server.url), **RS_CFG_ARGS)

        async def scenario() -> None:
            jwks = JwksCache(server.url, cache_s=3600, min_refetch_s=60)
            v = TokenVerifier(cfg, None, jwks, clock=Clock())
            rs = jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "r1"})
            es = jwt.encode(claims(tenant="beta"), ec_key, "ES256", headers={"kid": "e1"})
            assert (await v.verify(rs)).tenant == "alpha"
            assert (await v.verify(es)).tenant == "beta"
            # An HS256 token signed with the RSA *public* key (the classic confusion attack).
            from cryptography.hazmat.primitives import serialization

            pem = rsa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            forged = _hs256_with_raw_key(claims(), pem, kid="r1")
            with pytest.raises(AuthenticationFailed) as err:
                await v.verify(forged)
            assert err.value.code == "invalid_algorithm"
            # An ES256 header on a token signed by the RSA key fails too.
            wrong = jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "e1"})
            wrong = _swap_alg(wrong, "ES256")
            with pytest.raises(AuthenticationFailed):
                await v.verify(wrong)
            await jwks.aclose()

        asyncio.run(scenario())


def _hs256_with_raw_key(payload: dict[str, Any], key: bytes, kid: str) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(payload).encode())
    sig = b64(hmac.new(key, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


def _swap_alg(token: str, alg: str) -> str:
    import base64
    import json

    head, body, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    data["alg"] = alg
    new = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{new}.{body}.{sig}"


def test_unknown_kid_refetch_is_rate_limited_and_a_down_jwks_keeps_cached_keys() -> None:
    rsa_key, rsa_jwk = _rsa_jwk("r1")
    other_key, _ = _rsa_jwk("attacker")
    with JwksServer([rsa_jwk]) as server:
        cfg = AuthConfig(jwks_url=HttpUrl(server.url), **RS_CFG_ARGS)

        async def scenario() -> None:
            jwks = JwksCache(server.url, cache_s=3600, min_refetch_s=60)
            v = TokenVerifier(cfg, None, jwks, clock=Clock())
            good = jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "r1"})
            assert (await v.verify(good)).tenant == "alpha"
            assert server.fetches == 1
            for i in range(50):
                forged = jwt.encode(claims(n=i), other_key, "RS256", headers={"kid": f"k{i}"})
                with pytest.raises(AuthenticationFailed) as err:
                    await v.verify(forged)
                assert err.value.code == "unknown_key"
            assert server.fetches == 1, "unknown kids must not each trigger a fetch"
            server.down = True
            fresh = jwt.encode(claims(sub="again"), rsa_key, "RS256", headers={"kid": "r1"})
            assert (await v.verify(fresh)).subject == "again"
            await jwks.aclose()

        asyncio.run(scenario())


def test_a_rotated_key_is_picked_up_on_unknown_kid() -> None:
    old_key, old_jwk = _rsa_jwk("old")
    new_key, new_jwk = _rsa_jwk("new")
    with JwksServer([old_jwk]) as server:
        cfg = AuthConfig(jwks_url=HttpUrl(server.url), **{**RS_CFG_ARGS, "jwks_min_refetch_s": 0})

        async def scenario() -> None:
            jwks = JwksCache(server.url, cache_s=3600, min_refetch_s=0)
            v = TokenVerifier(cfg, None, jwks, clock=Clock())
            await v.verify(jwt.encode(claims(), old_key, "RS256", headers={"kid": "old"}))
            server.keys = [old_jwk, new_jwk]
            p = await v.verify(jwt.encode(claims(), new_key, "RS256", headers={"kid": "new"}))
            assert p.tenant == "alpha"
            assert server.fetches == 2
            await jwks.aclose()

        asyncio.run(scenario())


def test_verified_tokens_are_cached_until_expiry() -> None:
    clock = Clock()
    v = TokenVerifier(HS, SECRET, None, clock=clock)
    token = jwt.encode(claims(exp=NOW + 1), SECRET, "HS256")
    first = asyncio.run(v.verify(token))
    clock.now = NOW + 0.9
    assert asyncio.run(v.verify(token)) is first
    clock.now = NOW + 1.1
    # Past exp the cached principal is dropped; leeway still admits it on re-verification.
    second = asyncio.run(v.verify(token))
    assert second is not first
    assert second == first
    clock.now = NOW + 1 + LEEWAY
    with pytest.raises(AuthenticationFailed) as err:
        asyncio.run(v.verify(token))
    assert err.value.code == "token_expired"
