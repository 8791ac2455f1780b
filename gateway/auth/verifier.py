"""Turn a bearer token into a :class:`Principal`, or say exactly why not.

The algorithm decides the key source before any verification: HS* only ever
uses the configured secret, asymmetric algorithms only ever use a JWKS key, so
HS/RS confusion is impossible and ``none`` is never accepted. Verified tokens
are cached until they expire, which keeps signature checks off the hot path.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from gateway.auth.jwks import JwksCache
from gateway.auth.principal import Principal
from gateway.config.model import ASYMMETRIC_ALGORITHMS, HS_ALGORITHMS, AuthConfig
from gateway.errors import AuthenticationFailed

_CACHE_MAX = 50_000

_REFUSALS: dict[type[jwt.InvalidTokenError], tuple[str, str]] = {
    jwt.ExpiredSignatureError: ("The token has expired.", "token_expired"),
    jwt.ImmatureSignatureError: ("The token is not valid yet.", "token_not_yet_valid"),
    jwt.InvalidAudienceError: ("The token's audience is wrong.", "invalid_audience"),
    jwt.InvalidIssuerError: ("The token's issuer is wrong.", "invalid_issuer"),
    jwt.InvalidSignatureError: ("The token's signature is invalid.", "invalid_signature"),
}


class TokenVerifier:
    def __init__(self, cfg: AuthConfig, hs_secret: bytes | None, jwks: JwksCache | None) -> None:
        self._cfg = cfg
        self._secret = hs_secret
        self._jwks = jwks
        self._allowed = frozenset(cfg.algorithms)
        self._cache: dict[str, Principal] = {}

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > time.time():
                return cached
            del self._cache[token]
        principal = await self._verify_uncached(token)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # crude but bounded; refills with live tokens
        self._cache[token] = principal
        return principal

    async def _verify_uncached(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthenticationFailed("The API key is not a well-formed JWT.") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._allowed:
            raise AuthenticationFailed(
                f"The token's algorithm {alg!r} is not allowed here.", code="invalid_algorithm"
            )
        key: Any
        if alg in HS_ALGORITHMS:
            if not self._secret:
                raise AuthenticationFailed(
                    "HS* tokens are not configured.", code="invalid_algorithm"
                )
            key = self._secret
        elif alg in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            kid = header.get("kid")
            jwk = await self._jwks.get(kid if isinstance(kid, str) else None)
            if jwk is None:
                raise AuthenticationFailed(
                    "The token's signing key is unknown.", code="unknown_key"
                )
            key = jwk.key
        else:
            raise AuthenticationFailed(
                f"Algorithm {alg!r} is not usable.", code="invalid_algorithm"
            )
        claims = self._decode(token, key, alg)
        return self._principal(claims)

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        cfg = self._cfg
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={
                    "require": ["exp"],
                    "verify_aud": cfg.audience is not None,
                    "verify_iss": cfg.issuer is not None,
                },
            )
        except jwt.InvalidTokenError as exc:
            for kind, (message, code) in _REFUSALS.items():
                if isinstance(exc, kind):
                    raise AuthenticationFailed(message, code=code) from None
            if isinstance(exc, jwt.MissingRequiredClaimError):
                raise AuthenticationFailed(f"The token lacks the {exc.claim!r} claim.") from None
            raise AuthenticationFailed(f"The token is invalid: {type(exc).__name__}.") from None
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        cfg = self._cfg
        tenant = claims.get(cfg.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise AuthenticationFailed(
                f"The token lacks the {cfg.tenant_claim!r} claim.", code="missing_tenant"
            )
        roles = claims.get(cfg.roles_claim)
        role_list = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        subject = claims.get(cfg.subject_claim)
        return Principal(
            tenant=tenant,
            subject=subject if isinstance(subject, str) else None,
            is_admin=cfg.admin_role in role_list,
            expires_at=float(claims["exp"]),
        )


def bearer_token(authorization: str | None) -> str:
    """The token from an ``Authorization: Bearer …`` header value."""
    if not authorization:
        raise AuthenticationFailed(
            "You didn't provide an API key. "
            "Send your team's token as 'Authorization: Bearer <token>'.",
            code="missing_api_key",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
    return token.strip()
