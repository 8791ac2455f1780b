"""Ephemeral client secrets the gateway issues for browsers, bound to one tenant.

A browser cannot hold a team's JWT, so a backend mints a short-lived secret
(``POST /v1/realtime/client_secrets``) and hands it over. The upstream would
mint its own ``ek_`` key, which would let the browser talk to OpenAI directly
and unmetered; the gateway keeps that key to itself and returns one of its
own instead, which opens sessions only through the gateway, for the tenant
that minted it, with the session config (caps applied) fixed at mint time.

One process keeps them in memory (`ClientSecrets`); several replicas keep them
in Redis (`RedisClientSecrets`, with ``GATEWAY_REDIS_URL``), so a browser may
open its session on any replica. Redis holds a secret under its SHA-256 only,
with a TTL to its expiry: a dump of Redis opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import orjson

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


class SecretStore(Protocol):
    async def mint(
        self,
        tenant: str,
        subject: str | None,
        *,
        expires_at: float,
        session: dict[str, Any],
        single_use: bool,
        now: float,
    ) -> ClientSecret: ...

    async def take(self, value: str, now: float) -> ClientSecret | None:
        """The secret, if it is valid now; a single-use secret is spent by this call."""
        ...

    async def aclose(self) -> None: ...


def _new(
    tenant: str,
    subject: str | None,
    expires_at: float,
    session: dict[str, Any],
    single_use: bool,
) -> ClientSecret:
    value = PREFIX + secrets.token_urlsafe(32)
    return ClientSecret(value, tenant, subject, expires_at, session, single_use)


class ClientSecrets:
    """In this process's memory: one replica."""

    def __init__(self) -> None:
        self._secrets: dict[str, ClientSecret] = {}

    async def mint(
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
        secret = _new(tenant, subject, expires_at, session, single_use)
        self._secrets[secret.value] = secret
        return secret

    async def take(self, value: str, now: float) -> ClientSecret | None:
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

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisClientSecrets:
    """In Redis: any replica opens a session with a secret another one minted.

    Single-use secrets live under their own key and are taken with ``GETDEL``, so
    two replicas cannot both spend one.
    """

    def __init__(self, url: str, *, prefix: str = "gw:") -> None:
        from gateway.quota.shared.connection import connect  # redis only when configured

        self._redis = connect(url)  # one server, or a Cluster (each key routed to its slot)
        self._prefix = prefix

    def _keys(self, value: str) -> tuple[str, str]:
        digest = hashlib.sha256(value.encode()).hexdigest()
        return f"{self._prefix}secret1:{digest}", f"{self._prefix}secret:{digest}"

    async def mint(
        self,
        tenant: str,
        subject: str | None,
        *,
        expires_at: float,
        session: dict[str, Any],
        single_use: bool,
        now: float,
    ) -> ClientSecret:
        secret = _new(tenant, subject, expires_at, session, single_use)
        once, many = self._keys(secret.value)
        record = asdict(secret)
        del record["value"]  # the key is its hash; the value itself is not stored
        ttl_ms = max(1, int((expires_at - now) * 1000))
        await self._redis.set(once if single_use else many, orjson.dumps(record), px=ttl_ms)
        return secret

    async def take(self, value: str, now: float) -> ClientSecret | None:
        once, many = self._keys(value)
        pipe = self._redis.pipeline(transaction=False)
        pipe.getdel(once)
        pipe.get(many)
        spent, kept = await pipe.execute()
        raw = spent or kept
        if raw is None:
            return None
        secret = ClientSecret(value=value, **orjson.loads(raw))
        return secret if secret.expires_at > now else None

    async def aclose(self) -> None:
        await self._redis.aclose()
