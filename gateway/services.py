"""The wired-up services one gateway instance runs on, built by ``create_app``: wiring only.

Construction and lifecycle live here; decisions live in the modules that own
them (who calls: `gateway.auth.callers`; the call itself: `gateway.pipeline`).
Handlers receive this object instead of reaching for globals; tests build
their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from gateway.alerts import AlertEvaluator, Claims, MemoryClaims
from gateway.auth import JwksCache, TokenVerifier
from gateway.auth.callers import Authenticator
from gateway.cache.respond import make_cache
from gateway.config.reload import ConfigReloader
from gateway.config.runtime import RuntimeConfig
from gateway.db import require_schema
from gateway.deferred.charges import DeferredCharges
from gateway.forecast.live import DEFAULT_INTERVAL_S, LiveForecasts
from gateway.forecast.signals import ForecastSignals
from gateway.ledger import Ledger
from gateway.metering.recorder import Recorder
from gateway.metering.spend import ledger_spend
from gateway.ownership import OwnershipStore
from gateway.pipeline.core import Pipeline
from gateway.pipeline.meter import Meter
from gateway.quota.guard import SingleInstance
from gateway.quota.memory import MemoryQuota
from gateway.quota.store import Quota, make_quota
from gateway.realtime.secrets import ClientSecrets, RedisClientSecrets, SecretStore
from gateway.shadow.run import Shadows
from gateway.shadow.store import PairStore
from gateway.shapes.batches import BATCH_DEFERRAL
from gateway.shapes.responses import RESPONSE_DEFERRAL
from gateway.storage import StorageMeter
from gateway.telemetry.access_log import AccessLog
from gateway.telemetry.budgets import budget_levels
from gateway.telemetry.forecasts import forecast_gauges
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.tracing import NO_TRACING, Tracing
from gateway.upstream import UpstreamPool


class Services:
    def __init__(
        self,
        config: RuntimeConfig,
        engine: Engine,
        tracing: Tracing = NO_TRACING,
        *,
        redis_url: str | None = None,
        redis_alive_s: float = 10.0,
        forecast_interval_s: float = DEFAULT_INTERVAL_S,
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
        self.metrics.watch_budgets(lambda: budget_levels(self.config, self.quota))
        self.recorder = Recorder(self.quota, self.ledger, self.metrics)
        self.forecasts = LiveForecasts(engine, lambda: self.config)
        self._forecast_interval_s = forecast_interval_s
        self.metrics.watch_forecasts(lambda: forecast_gauges(self.forecasts.latest(), self.config))
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
        self.verifier = TokenVerifier(
            auth, config.hs_secret, self.jwks, previous_secret=config.hs_previous_secret
        )
        self.pool = UpstreamPool(config.upstreams)
        self.metrics.watch_upstreams(self.pool.circuits)
        self.ownership = OwnershipStore(engine)
        self.client_secrets: SecretStore = (
            RedisClientSecrets(redis_url) if redis_url else ClientSecrets()
        )
        self.auth = Authenticator(self.verifier, self.client_secrets, lambda: self.config)
        meter = Meter(self.quota, self.recorder)
        self.pipeline = Pipeline(meter, self.pool, self.ownership, self.metrics, tracing)
        self.deferred = DeferredCharges(
            engine, self.ledger, self.quota, self.recorder, self.pool, lambda: self.config,
            {d.kind: d for d in (BATCH_DEFERRAL, RESPONSE_DEFERRAL)},
        )  # fmt: skip
        self.pipeline.deferred = self.deferred
        self.cache = self.pipeline.cache = make_cache(
            redis_url, lambda: self.config.source.response_cache.max_bytes, self.metrics
        )
        self.shadow_pairs = PairStore(engine)
        shadows = self.pipeline.shadows = Shadows(self.pipeline, self.shadow_pairs, self.track)
        self.metrics.shadow.in_flight.set_function(lambda: shadows.in_flight)
        self.storage = StorageMeter(engine, lambda: self.config, self.pool, meter)
        self.alerts = AlertEvaluator(
            lambda: self.config, self.quota, _alert_claims(redis_url), self.metrics,
            signals=ForecastSignals(self.forecasts.latest),
        )  # fmt: skip
        self._tasks: set[asyncio.Task[None]] = set()  # background work: call sidebands
        self.draining = False  # SIGTERM came: /readyz says 503, new work still served
        self.stopping = asyncio.Event()  # the listener is closing: sockets are told to go

    async def start(self) -> None:
        await asyncio.to_thread(require_schema, self.engine)
        if isinstance(self.quota, MemoryQuota):  # its limits would split over two processes
            self._single = await asyncio.to_thread(SingleInstance.claim, self.engine)
        await self.quota.start(
            lambda: ledger_spend(self.engine, self.quota, self.config), self.recorder
        )
        self.metrics.watch_quota(self.quota)
        await self.pool.start()
        await self.ownership.start()
        await self.ledger.start()
        await self.shadow_pairs.start()
        await self.access_log.start()
        await self.tracing.start()
        self.deferred.start()
        if self._forecast_interval_s > 0:  # off the request path, the first one at once
            self.forecasts.start(self._forecast_interval_s)
        self.track(asyncio.create_task(self.storage.run_forever(), name="storage-meter"))
        self.track(asyncio.create_task(self.alerts.run_forever(), name="alerts"))

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a background task until it ends; shutdown cancels what is left."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):  # their cleanup meters what they watched
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.deferred.aclose()
        await self.alerts.aclose()
        await self.forecasts.aclose()
        await self.pool.aclose()
        await self.ownership.aclose()
        with contextlib.suppress(Exception):  # the quota's last settles wait for these rows
            await self.ledger.flush()
        await self.quota.aclose()
        await self.client_secrets.aclose()
        await self.cache.aclose()
        await self.ledger.aclose()  # and any orphan rows the quota wrote meanwhile
        await self.shadow_pairs.aclose()  # after the tasks: the last pairs are written
        if self._single is not None:
            self._single.release()
        await self.access_log.aclose()
        await self.tracing.aclose()  # its last spans go out
        if self.jwks is not None:
            await self.jwks.aclose()


def _alert_claims(redis_url: str | None) -> Claims:
    """Claims shared by every replica through Redis, or this process's own."""
    if not redis_url:
        return MemoryClaims(time.time)
    from gateway.alerts.redis_claims import RedisClaims  # redis only when configured

    return RedisClaims(redis_url)
