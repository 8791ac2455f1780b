"""Turn a bearer token into a :class:`Principal`, or say exactly why not.

The algorithm decides the key source before any verification: HS* only ever
uses the configured secret, asymmetric algorithms only ever use a JWKS key, so
HS/RS confusion is impossible and ``none`` is never accepted. Verified tokens
are cached until they expire, which keeps signature checks off the hot path.
Expiry and not-before are judged on an injected clock (wall time by default) in
the order PyJWT judges them, so tests move time instead of waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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

# Claims PyJWT judges after the times: a token wrong in both is refused for its times.
_JUDGED_AFTER_TIMES = (
    jwt.InvalidIssuerError,
    jwt.InvalidAudienceError,
    jwt.exceptions.InvalidSubjectError,
    jwt.exceptions.InvalidJTIError,
)


class TokenVerifier:
    def __init__(
        self,
        cfg: AuthConfig,
        hs_secret: bytes | None,
        jwks: JwksCache | None,
        clock: Callable[[], float] = time.time,
        previous_secret: bytes | None = None,
    ) -> None:
        self._cfg = cfg
        self._clock = clock
        self._secret = hs_secret
        self._previous = previous_secret  # a rotation: tokens signed before still verify
        self._jwks = jwks
        self._allowed = frozenset(cfg.algorithms)
        self._cache: dict[str, Principal] = {}

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > self._clock():
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
        if alg in HS_ALGORITHMS:
            if not self._secret:
                raise AuthenticationFailed(
                    "HS* tokens are not configured.", code="invalid_algorithm"
                )
            try:
                return self._principal(self._decode(token, self._secret, alg))
            except AuthenticationFailed as err:
                if err.code != "invalid_signature" or not self._previous:
                    raise
                return self._principal(self._decode(token, self._previous, alg))
        key: Any
        if alg in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
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
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    audience=cfg.audience,
                    issuer=cfg.issuer,
                    options={
                        "require": ["exp"],
                        "verify_aud": cfg.audience is not None,
                        "verify_iss": cfg.issuer is not None,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                    },
                )
            except _JUDGED_AFTER_TIMES:
                # The signature held; PyJWT judges the times before these claims.
                unverified = jwt.decode(token, options={"verify_signature": False})
                _check_times(unverified, self._clock(), cfg.leeway_s)
                raise
            _check_times(claims, self._clock(), cfg.leeway_s)
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
        jti = claims.get("jti")
        return Principal(
            tenant=tenant,
            subject=subject if isinstance(subject, str) else None,
            is_admin=cfg.admin_role in role_list,
            expires_at=float(claims["exp"]),
            token_id=jti if isinstance(jti, str) else None,
            claims={k: v for k, v in claims.items() if isinstance(v, str)},
        )


def _check_times(claims: dict[str, Any], now: float, leeway: float) -> None:
    """PyJWT's own iat, nbf and exp rules (same order, same errors), judged at ``now``."""
    if "iat" in claims:
        try:
            iat = int(claims["iat"])
        except (ValueError, TypeError, OverflowError):
            raise jwt.InvalidIssuedAtError("Issued At claim (iat) must be an integer.") from None
        if iat > now + leeway:
            raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")
    if "nbf" in claims:
        try:
            nbf = int(claims["nbf"])
        except (ValueError, TypeError, OverflowError):
            raise jwt.DecodeError("Not Before claim (nbf) must be an integer.") from None
        if nbf > now + leeway:
            raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
    if "exp" in claims:
        try:
            exp = int(claims["exp"])
        except (ValueError, TypeError, OverflowError):
            raise jwt.DecodeError("Expiration Time claim (exp) must be an integer.") from None
        if exp <= now - leeway:
            raise jwt.ExpiredSignatureError("Signature has expired")


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
