"""The wired-up services one gateway instance runs on, built by ``create_app``.

Handlers receive this object instead of reaching for globals; tests build
their own. ``authenticate`` is the one place a request becomes a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from gateway.auth import JwksCache, Principal, TokenVerifier, bearer_token
from gateway.config.reload import ConfigReloader
from gateway.config.runtime import Model, Policy, RuntimeConfig
from gateway.db import require_schema
from gateway.errors import AuthenticationFailed, PermissionDenied
from gateway.ledger import Ledger, spend_by_tenant_model
from gateway.metering.recorder import Recorder
from gateway.ownership import OwnershipStore
from gateway.policy import resolve_tenant
from gateway.policy.request import Applied
from gateway.pricing import NANOS_PER_USD, ModelPrice
from gateway.quota.bound import admission_bound, token_estimate
from gateway.quota.guard import SingleInstance
from gateway.quota.memory import MemoryQuota
from gateway.quota.orphans import CounterKey
from gateway.quota.store import Quota, make_quota
from gateway.quota.ticket import Ticket
from gateway.realtime.secrets import PREFIX as SECRET_PREFIX
from gateway.realtime.secrets import ClientSecrets, RedisClientSecrets, SecretStore
from gateway.telemetry.access_log import AccessLog
from gateway.telemetry.metrics import BudgetLevel, Metrics
from gateway.telemetry.tracing import NO_TRACING, Tracing
from gateway.upstream import UpstreamPool


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    policy: Policy


class Services:
    def __init__(
        self,
        config: RuntimeConfig,
        engine: Engine,
        tracing: Tracing = NO_TRACING,
        *,
        redis_url: str | None = None,
        redis_alive_s: float = 10.0,
    ) -> None:
        self.config = config
        self.engine = engine
        self.quota: Quota = make_quota(
            ZoneInfo(config.accounting.timezone), redis_url, redis_alive_s
        )
        self._single: SingleInstance | None = None
        self.ledger = Ledger(engine)
        self.metrics = Metrics()
        self.metrics.watch_ledger(lambda: self.ledger.pending, self.ledger.oldest_pending_age_s)
        self.metrics.watch_budgets(self.budget_levels)
        self.recorder = Recorder(self.quota, self.ledger, self.metrics)
        self.reloader: ConfigReloader | None = None
        self.access_log = AccessLog()
        self.tracing = tracing
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
        self.client_secrets: SecretStore = (
            RedisClientSecrets(redis_url) if redis_url else ClientSecrets()
        )
        self._tasks: set[asyncio.Task[None]] = set()  # background work: call sidebands
        self.draining = False  # SIGTERM came: /readyz says 503, new work still served
        self.stopping = asyncio.Event()  # the listener is closing: sockets are told to go

    async def authenticate(self, authorization: str | None) -> Caller:
        principal = await self.verifier.verify(bearer_token(authorization))
        return Caller(principal, resolve_tenant(self.config, principal))

    async def authenticate_session(
        self, authorization: str | None
    ) -> tuple[Caller, dict[str, Any]]:
        """A team's JWT, or a client secret this gateway minted (with the session it fixed)."""
        token = bearer_token(authorization)
        if not token.startswith(SECRET_PREFIX):
            return await self.authenticate(authorization), {}
        secret = await self.client_secrets.take(token, time.time())
        if secret is None:
            raise AuthenticationFailed(
                "The client secret is invalid, expired or already used.",
                code="invalid_client_secret",
            )
        principal = Principal(secret.tenant, secret.subject, False, secret.expires_at)
        return Caller(principal, resolve_tenant(self.config, principal)), secret.session

    async def authenticate_admin(self, authorization: str | None) -> Caller:
        caller = await self.authenticate(authorization)
        if not caller.principal.is_admin:
            raise PermissionDenied(
                "This endpoint needs the gateway admin role.", code="admin_required"
            )
        return caller

    def price_for(self, model: Model, config: RuntimeConfig) -> ModelPrice | None:
        """The model's price; refuses a model with none unless the operator allows it."""
        price = config.pricing.price_for(model.upstream_model)
        if price is None and not config.accounting.allow_unpriced:
            raise PermissionDenied(
                f"The model `{model.name}` has no price in the gateway's price table, so its "
                "cost cannot be controlled; ask the gateway's operators to add one.",
                param="model",
                code="model_not_priced",
            )
        return price

    def budget_levels(self) -> list[BudgetLevel]:
        """Every budget's level now; unlisted tenants merge into ``_default`` (lowest wins)."""
        config, now = self.config, time.time()
        tenants = [(t, t, p) for t, p in config.tenants.items() if p.budgets]
        if config.defaults is not None and config.defaults.budgets:
            unlisted = (t for t in self.quota.tenants() if t not in config.tenants)
            tenants += [(t, "_default", config.defaults) for t in unlisted]
        levels: dict[tuple[str, str, str], BudgetLevel] = {}
        for tenant, label, policy in tenants:
            for b in self.quota.status(tenant, policy, now):
                key = (label, b.window, b.model or "_all")
                left = b.remaining_nanos / NANOS_PER_USD
                if key not in levels or left < levels[key].remaining_usd:
                    levels[key] = BudgetLevel(*key, b.limit_nanos / NANOS_PER_USD, left)
        return list(levels.values())

    async def admit(
        self,
        config: RuntimeConfig,
        caller: Caller,
        model: Model,
        raw: bytes,
        body: dict[str, Any],
        applied: Applied,
        ref: tuple[str, int] | None = None,
    ) -> Ticket:
        """Reserve one call's cost bound and rate-limit share, or raise the refusal."""
        price = self.price_for(model, config)
        bound = 0
        if price is not None:
            bound = admission_bound(raw, body, model, price, applied, config.pricing)
        return await self.quota.admit(
            caller.principal.tenant,
            model.name,
            caller.policy,
            bound=bound,
            tokens=token_estimate(raw, applied.cap * applied.choices),
            now=time.time(),
            ref=ref,
        )

    async def start(self) -> None:
        await asyncio.to_thread(require_schema, self.engine)
        if isinstance(self.quota, MemoryQuota):  # its limits would split over two processes
            self._single = await asyncio.to_thread(SingleInstance.claim, self.engine)
        await self.quota.start(self._ledger_spend, self.recorder)
        self.metrics.watch_quota(self.quota)
        await self.pool.start()
        await self.ownership.start()
        await self.ledger.start()
        await self.access_log.start()

    def _ledger_spend(self) -> dict[CounterKey, int]:
        """Budgets survive restarts: this window's spend is read back from the ledger."""
        windows = self.quota.windows(time.time())
        seed: dict[CounterKey, int] = {}
        for window in windows.values():
            for (tenant, model), nanos in spend_by_tenant_model(
                self.engine, window.starts_at
            ).items():
                for key in ((tenant, None, window.key), (tenant, model, window.key)):
                    seed[key] = seed.get(key, 0) + nanos
        return seed

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a background task until it ends; shutdown cancels what is left."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):  # their cleanup meters what they watched
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pool.aclose()
        await self.ownership.aclose()
        with contextlib.suppress(Exception):  # the quota's last settles wait for these rows
            await self.ledger.flush()
        await self.quota.aclose()
        await self.client_secrets.aclose()
        await self.ledger.aclose()  # and any orphan rows the quota wrote meanwhile
        if self._single is not None:
            self._single.release()
        await self.access_log.aclose()
        self.tracing.shutdown()
        if self.jwks is not None:
            await self.jwks.aclose()
