"""Mint HS* development tokens with the configured secret (``gateway token``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

import jwt

from gateway.config.model import HS_ALGORITHMS, AuthConfig


def mint_token(
    cfg: AuthConfig,
    secret: bytes,
    tenant: str,
    *,
    admin: bool,
    ttl_s: float,
    subject: str,
    extra: Mapping[str, str] | None = None,
) -> str:
    """A token signed with the gateway's own secret; ``extra`` claims (a service's ``azp``)
    never override the ones it sets."""
    alg = next((a for a in cfg.algorithms if a in HS_ALGORITHMS), None)
    if alg is None:
        raise ValueError("the config allows no HS* algorithm; mint tokens with your IdP instead")
    now = int(time.time())
    claims: dict[str, object] = {
        cfg.tenant_claim: tenant,
        cfg.subject_claim: subject,
        "iat": now,
        "nbf": now,
        "exp": now + int(ttl_s),
        "jti": uuid.uuid4().hex,  # so this one token can be revoked (`revoked.token_ids`)
    }
    for name, value in (extra or {}).items():
        claims.setdefault(name, value)
    if admin:
        claims[cfg.roles_claim] = [cfg.admin_role]
    if cfg.issuer:
        claims["iss"] = cfg.issuer
    if cfg.audience:
        claims["aud"] = cfg.audience
    return jwt.encode(claims, secret, algorithm=alg)
