"""The alert rounds every replica runs, off the request path.

Each round reads every budgeted tenant's levels from the quota and the latest
forecast signals, turns them into events (`crossings`) and queues one delivery
per event and webhook. A queued delivery is sent only under a claim
(`claims`): the replica that claims it sends it, marks it sent, and forgets it.
While the claims cannot be asked (Redis down), deliveries stay queued and are
retried every round: never sent unclaimed, never dropped until their window is
over (plus `events.LATE_GRACE`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from gateway.alerts.claims import Claims, ClaimState, ClaimsUnavailable
from gateway.alerts.crossings import signal_events, threshold_events
from gateway.alerts.delivery import Backoff, HttpPoster, Poster, deliver
from gateway.alerts.events import ALERT_KINDS, AlertEvent
from gateway.alerts.rules import rules_for
from gateway.alerts.signals import NO_SIGNALS, SignalSource
from gateway.config.runtime import Policy, RuntimeConfig
from gateway.quota.ticket import BudgetStatus
from gateway.quota.windows import Window, WindowKind
from gateway.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

SENT_KEPT = timedelta(hours=1)  # a "sent" mark outlives the event's last chance to be sent
LEASE_MARGIN_S = 1.0  # the last attempt ends this long before the lease does
PARALLEL = 8  # deliveries in flight at once
OUTCOMES = ("sent", "failed", "expired")


class BudgetLevels(Protocol):
    """What the alerts read of the quota (`gateway.quota.store.Quota` is one)."""

    async def budget_status(
        self, tenant: str, policy: Policy, now: float
    ) -> list[BudgetStatus]: ...

    def tenants(self) -> list[str]: ...

    def windows(self, now: float) -> dict[WindowKind, Window]: ...


@dataclass(slots=True)
class _Delivery:
    event: AlertEvent
    webhook: str
    delivered: bool = False  # the webhook took it; the "sent" mark is not stored yet

    @property
    def key(self) -> str:
        return f"{self.event.id}:{self.webhook}"


class AlertEvaluator:
    def __init__(
        self,
        config: Callable[[], RuntimeConfig],
        quota: BudgetLevels,
        claims: Claims,
        metrics: Metrics,
        *,
        poster: Poster | None = None,
        signals: SignalSource = NO_SIGNALS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._quota = quota
        self._claims = claims
        self._metrics = metrics
        self._poster = poster if poster is not None else HttpPoster()
        self.signals = signals  # the app points it at the live forecasts
        self._clock = clock
        self._sleep = sleep
        self._token = uuid.uuid4().hex  # this replica's claims
        self.pending: dict[str, _Delivery] = {}
        self._done: dict[str, float] = {}  # key → when it may be forgotten
        self._counted: RuntimeConfig | None = None  # the config whose counters exist
        metrics.watch_alerts(lambda: len(self.pending))

    async def run_forever(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # the next round tries again; the loop must not die
                log.exception("alert round failed")
            await self._sleep(self._config().source.alerts.interval_s)

    async def round(self) -> None:
        """Detect what is due now, then try every pending delivery once."""
        config, now = self._config(), self._clock()
        if not config.webhooks and not self.pending:
            return
        if config is not self._counted:
            self._count_from_zero(config)
        self._done = {k: until for k, until in self._done.items() if until > now}
        events = await self._budget_events(config, now) + await self._signal_events(config, now)
        for event in events:
            self._queue(config, event)
        queue = asyncio.Semaphore(PARALLEL)

        async def one(d: _Delivery) -> bool:
            async with queue:
                return await self._send(config, d)

        reached = await asyncio.gather(*(one(d) for d in list(self.pending.values())))
        if not all(reached):  # once a round, not once per notification
            log.warning("alerts: claims store unreachable; %d notifications pending, retried "
                        "next round", len(self.pending))  # fmt: skip

    def _queue(self, config: RuntimeConfig, event: AlertEvent) -> None:
        rules = rules_for(config, event.tenant)
        for webhook in rules.webhooks if rules is not None else ():
            d = _Delivery(event, webhook)
            if d.key not in self._done and d.key not in self.pending:
                self.pending[d.key] = d

    async def _budget_events(self, config: RuntimeConfig, now: float) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        for tenant, policy in _budgeted(config, self._quota.tenants()):
            rules = rules_for(config, tenant)
            if rules is None:
                continue
            try:
                levels = await self._quota.budget_status(tenant, policy, now)
            except Exception:  # a store outage: the next round reads them again
                log.warning("alerts: budget levels of %s unreadable", tenant, exc_info=True)
                continue
            out += threshold_events(tenant, levels, rules.thresholds)
        return out

    async def _signal_events(self, config: RuntimeConfig, now: float) -> list[AlertEvent]:
        section = config.source.alerts
        if not section.forecast and section.anomaly_score is None:
            return []
        try:
            signals = await self.signals.signals(datetime.fromtimestamp(now, UTC))
        except Exception:
            log.warning("alerts: forecast signals unreadable", exc_info=True)
            return []

        out: list[AlertEvent] = []
        for s in signals:
            out += signal_events(
                s, lambda at: self._quota.windows(at.timestamp()),
                forecast=section.forecast, anomaly_score=section.anomaly_score,
            )  # fmt: skip
        return out

    async def _send(self, config: RuntimeConfig, d: _Delivery) -> bool:
        """Claim, deliver, mark sent: as far as it gets. False when the claims store failed."""
        event, now = d.event, self._clock()
        webhook = config.webhooks.get(d.webhook)
        if webhook is None or event.expires_at.timestamp() <= now:  # removed, or too late
            self._finish(d, "expired" if webhook is not None else None)
            return True
        keep_s = (event.expires_at + SENT_KEPT).timestamp() - now
        try:
            if not d.delivered:
                lease_s = config.source.alerts.lease_s
                state = await self._claims.claim(event.tenant, d.key, self._token, lease_s)
                if state is ClaimState.SENT:
                    self._finish(d, None)
                if state is not ClaimState.MINE:
                    return True
                backoff = Backoff.of(config.source.alerts.delivery)
                deadline = now + lease_s - LEASE_MARGIN_S
                ok = await deliver(self._poster, webhook, event, backoff, deadline=deadline,
                                   clock=self._clock, sleep=self._sleep)  # fmt: skip
                self._count(d, "sent" if ok else "failed")
                if not ok:
                    await self._claims.release(event.tenant, d.key, self._token)
                    return True
                d.delivered = True
            await self._claims.mark_sent(event.tenant, d.key, keep_s)
        except ClaimsUnavailable:  # kept: claimed (or marked) next round
            return False
        self._finish(d, None)
        return True

    def _finish(self, d: _Delivery, outcome: str | None) -> None:
        self.pending.pop(d.key, None)
        self._done[d.key] = (d.event.expires_at + SENT_KEPT).timestamp()
        if outcome is not None:
            self._count(d, outcome)

    def _count_from_zero(self, config: RuntimeConfig) -> None:
        """Every webhook's counters exist at 0, so the first failure is an increase."""
        self._counted = config
        for webhook in config.webhooks:
            for kind in ALERT_KINDS:
                for outcome in OUTCOMES:
                    self._metrics.alert_notifications(kind, outcome, webhook)

    def _count(self, d: _Delivery, outcome: str) -> None:
        self._metrics.alert_notifications(d.event.kind, outcome, d.webhook).inc()

    async def aclose(self) -> None:
        await self._poster.aclose()
        await self._claims.aclose()


def _budgeted(config: RuntimeConfig, known: list[str]) -> list[tuple[str, Policy]]:
    """Tenants with budgets: the listed ones, and the unlisted ones the quota has seen
    (under ``defaults``)."""
    out = [(t, p) for t, p in config.tenants.items() if p.budgets]
    if config.defaults is not None and config.defaults.budgets:
        out += [(t, config.defaults) for t in known if t not in config.tenants]
    return out
