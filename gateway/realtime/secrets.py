"""Ephemeral client secrets the gateway issues for browsers, bound to one tenant.

A browser cannot hold a team's JWT, so a backend mints a short-lived secret
(``POST /v1/realtime/client_secrets``) and hands it over. The upstream would
mint its own ``ek_`` key, which would let the browser talk to OpenAI directly
and unmetered; the gateway keeps that key to itself and returns one of its
own instead, which opens sessions only through the gateway, for the tenant
that minted it, with the session config (caps applied) fixed at mint time.

Secrets live in this process's memory: with several replicas a secret works
on the replica that minted it only, until the shared store of the scale-out
issue holds them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

PREFIX = "ek_gw_"


@dataclass(slots=True)
class ClientSecret:
    value: str
    tenant: str
    subject: str | None
    expires_at: float  # unix seconds
    session: dict[str, Any] = field(default_factory=dict)  # applied when a session opens
    single_use: bool = False
    used: bool = False


class ClientSecrets:
    def __init__(self) -> None:
        self._secrets: dict[str, ClientSecret] = {}

    def mint(
        self,
        tenant: str,
        subject: str | None,
        *,
        expires_at: float,
        session: dict[str, Any],
        single_use: bool,
        now: float,
    ) -> ClientSecret:
        self._forget_expired(now)
        value = PREFIX + secrets.token_urlsafe(32)
        secret = ClientSecret(value, tenant, subject, expires_at, session, single_use)
        self._secrets[value] = secret
        return secret

    def take(self, value: str, now: float) -> ClientSecret | None:
        """The secret, if it is valid now; a single-use secret is spent by this call."""
        secret = self._secrets.get(value)
        if secret is None or secret.expires_at <= now or secret.used:
            return None
        if secret.single_use:
            secret.used = True
        return secret

    def _forget_expired(self, now: float) -> None:
        expired = [v for v, s in self._secrets.items() if s.expires_at <= now]
        for value in expired:
            del self._secrets[value]
