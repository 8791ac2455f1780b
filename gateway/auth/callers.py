"""Who is calling: a verified credential and the tenant policy it is served under.

The one place a request's ``Authorization`` becomes a :class:`Caller`: a team's
JWT, or (for Realtime) a client secret this gateway minted for a browser,
which also carries the session config fixed when it was minted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.auth.principal import Principal
from gateway.auth.verifier import TokenVerifier, bearer_token
from gateway.config.runtime import Policy, RuntimeConfig
from gateway.errors import AuthenticationFailed, PermissionDenied
from gateway.policy import resolve_service, resolve_tenant
from gateway.realtime.secrets import PREFIX as SECRET_PREFIX
from gateway.realtime.secrets import SecretStore


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    policy: Policy
    service: str | None = None  # the service inside the tenant (`services:`), when configured

    @property
    def tenant(self) -> str:
        return self.principal.tenant


class Authenticator:
    def __init__(
        self, verifier: TokenVerifier, secrets: SecretStore, config: Callable[[], RuntimeConfig]
    ) -> None:
        self._verifier = verifier
        self._secrets = secrets
        self._config = config  # the config in force now (it hot-reloads)

    async def principal(self, authorization: str | None) -> Principal:
        """The verified, unrevoked token (401 otherwise); its tenant not yet looked at."""
        principal = await self._verifier.verify(bearer_token(authorization))
        config = self._config()
        if config.revoked_ids or config.revoked_subjects:  # checked on every call, cached or not
            _check_revoked(config, principal)
        return principal

    async def caller(self, authorization: str | None) -> Caller:
        principal = await self.principal(authorization)
        policy = resolve_tenant(self._config(), principal)
        return Caller(principal, policy, resolve_service(policy, principal))

    async def session_caller(self, authorization: str | None) -> tuple[Caller, dict[str, Any]]:
        """A team's JWT, or a client secret this gateway minted (with the session it fixed)."""
        token = bearer_token(authorization)
        if not token.startswith(SECRET_PREFIX):
            return await self.caller(authorization), {}
        secret = await self._secrets.take(token, time.time())
        if secret is None:
            raise AuthenticationFailed(
                "The client secret is invalid, expired or already used.",
                code="invalid_client_secret",
            )
        principal = Principal(secret.tenant, secret.subject, False, secret.expires_at)
        policy = resolve_tenant(self._config(), principal)
        return Caller(principal, policy, resolve_service(policy, principal)), secret.session

    def admin(self, principal: Principal) -> Caller:
        """An admin token (403 otherwise). Its tenant need not be in the config: an
        operator's token need not be a team's. A disabled tenant's tokens stay refused."""
        if not principal.is_admin:
            raise PermissionDenied(
                "This endpoint needs the gateway admin role.", code="admin_required"
            )
        config = self._config()
        if config.policy_for(principal.tenant) is None:
            return Caller(principal, NO_ACCESS)
        return Caller(principal, resolve_tenant(config, principal))


NO_ACCESS = Policy(enabled=False, allowed_models=frozenset())
"""An admin of no configured tenant: admin endpoints only, no model calls."""


def _check_revoked(config: RuntimeConfig, principal: Principal) -> None:
    if principal.token_id in config.revoked_ids or principal.subject in config.revoked_subjects:
        raise AuthenticationFailed(
            "This token has been revoked; ask your gateway's operators for a new one.",
            code="token_revoked",
        )
