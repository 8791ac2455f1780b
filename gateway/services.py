"""The wired-up services one gateway instance runs on, built by ``create_app``.

Handlers receive this object instead of reaching for globals; tests build
their own. ``authenticate`` is the one place a request becomes a caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from gateway.auth import JwksCache, Principal, TokenVerifier, bearer_token
from gateway.config.runtime import Policy, RuntimeConfig
from gateway.ownership import OwnershipStore
from gateway.policy import resolve_tenant
from gateway.upstream import UpstreamPool


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    policy: Policy


class Services:
    def __init__(self, config: RuntimeConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        auth = config.auth
        self.jwks = (
            JwksCache(
                str(auth.jwks_url), cache_s=auth.jwks_cache_s, min_refetch_s=auth.jwks_min_refetch_s
            )
            if auth.jwks_url
            else None
        )
        self.verifier = TokenVerifier(auth, config.hs_secret, self.jwks)
        self.pool = UpstreamPool(config.upstreams)
        self.ownership = OwnershipStore(engine)

    async def authenticate(self, authorization: str | None) -> Caller:
        principal = await self.verifier.verify(bearer_token(authorization))
        return Caller(principal, resolve_tenant(self.config, principal))

    async def start(self) -> None:
        await self.pool.start()
        await self.ownership.start()

    async def aclose(self) -> None:
        await self.pool.aclose()
        await self.ownership.aclose()
        if self.jwks is not None:
            await self.jwks.aclose()
