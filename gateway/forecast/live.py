"""Live forecasts: the pure method of `gateway.forecast` run on the ledger, every minute.

What each tenant will have spent at the end of the day and the month, when each
of its budgets runs out at the expected rate, and whether the last hour spent far
above its usual level; for the tenant's total, each of its services and its tags
(those with a budget, and the most spent on), so finance sees it before a refusal.

Why a cache: the method wants about five weeks of hourly spend, and the ledger
can hold millions of rows. Hours that closed more than `REREAD` ago are kept
from the first read (a row lands in the hour its call started, and long calls are
written when they end, so the last two hours still move); each refresh reads only
the hours since. A batch billed a day after it started changes an old hour the
cache does not see: such spend shows in the projections from the next restart.

Runs off the request path: `refresh` reads and fits in a thread; `latest` is the
last result, read by the usage API, the metrics and (through the lead) the alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from gateway.config.runtime import BudgetLimit, Policy, RuntimeConfig
from gateway.forecast.calendar import HOUR, hour_start
from gateway.forecast.project import Window, anomaly_score, budget_exhaustion, project
from gateway.forecast.scopes import scope_history
from gateway.ledger.hourly import Hourly, SpendKey, hourly_spend

log = logging.getLogger(__name__)

HISTORY = timedelta(days=35)  # five weeks: whole weeks for the weekday profile
REREAD = timedelta(hours=2)  # hours this recent are read again at every refresh
DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class BudgetForecast:
    """One budget of a scope: when it runs out at the expected rate."""

    window: Window
    limit_nanos: int
    exhausts_at: datetime | None  # None: it lasts the window; the refresh's time if spent


@dataclass(frozen=True, slots=True)
class ScopeForecast:
    """A tenant's, a service's or a tag's spend so far and where it is heading (nanos)."""

    tenant: str
    scope: str | None  # None: the tenant's total; service:<name>; tag:<key>=<value>
    as_of: datetime  # the refresh's time (UTC)
    spent_today: int  # since local midnight in the accounting time zone
    spent_month: int  # since the local month's first day
    day_end: int  # spent today + the expected spend of the rest of the day
    month_end: int  # spent this month + the expected spend of the rest of the month
    budgets: tuple[BudgetForecast, ...]  # the scope's configured budgets, day then month
    anomaly_hour: datetime  # the last complete local hour
    anomaly: float | None  # its spend over its usual level; None: under a week of history
    history_hours: int  # hours of history the rate was fitted on


class LiveForecasts:
    """Forecasts of every tenant from the ledger, refreshed off the request path."""

    def __init__(
        self,
        engine: Engine,
        config: Callable[[], RuntimeConfig],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine, self._config, self._clock = engine, config, clock
        self._latest: tuple[ScopeForecast, ...] = ()
        self._as_of: datetime | None = None
        self._closed: dict[SpendKey, Hourly] = {}  # hours before `_boundary`: final
        self._boundary: datetime | None = None
        self._zone: str | None = None  # the time zone the cache's hours are in
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # ledger reads (for tests: only the recent hours after the first)

    def latest(self) -> tuple[ScopeForecast, ...]:
        """The last refresh's forecasts (empty before the first one)."""
        return self._latest

    @property
    def as_of(self) -> datetime | None:
        """The last refresh's time; None before the first one."""
        return self._as_of

    async def refresh(self, now: datetime | None = None) -> tuple[ScopeForecast, ...]:
        """Read the ledger's new hours and forecast every scope as of `now` (default: the clock)."""
        at = now if now is not None else datetime.fromtimestamp(self._clock(), UTC)
        async with self._lock:
            config = self._config()
            result = await asyncio.to_thread(self._compute, config, at)
            self._latest, self._as_of = result, at
        return result

    def _compute(self, config: RuntimeConfig, now: datetime) -> tuple[ScopeForecast, ...]:
        tz = ZoneInfo(config.accounting.timezone)
        history = self._history(config.accounting.timezone, tz, now)
        by_tenant: dict[str, dict[SpendKey, Hourly]] = {}
        for key, hours in history.items():
            by_tenant.setdefault(key[0], {})[key] = hours
        out: list[ScopeForecast] = []
        for tenant, spend in sorted(by_tenant.items()):
            policy = config.tenants.get(tenant) or config.defaults
            if policy is None:
                continue  # a tenant gone from the config, with nothing serving it
            for scope, hourly in scope_history(spend, _scopes_with_budgets(policy)).items():
                out.append(forecast(tenant, scope, hourly, _budgets_of(policy, scope), now, tz))
        return tuple(out)

    def _history(self, zone: str, tz: tzinfo, now: datetime) -> dict[SpendKey, Hourly]:
        """Five weeks of hourly spend: the cached closed hours and the recent ones read now."""
        cut = hour_start(now, tz) - REREAD
        start = hour_start(now - HISTORY, tz)
        if self._boundary is None or zone != self._zone or self._boundary > cut:
            since, self._closed = start, {}  # first read, a new time zone, or a clock set back
        else:
            since = self._boundary
        fresh = hourly_spend(self._engine, since, tz)
        self.reads += 1
        recent: dict[SpendKey, Hourly] = {}
        for key, hours in fresh.items():
            for hour, nanos in hours.items():
                target = self._closed if hour < cut else recent
                target.setdefault(key, {})[hour] = nanos
        self._boundary, self._zone = cut, zone
        for key in list(self._closed):
            kept = {h: n for h, n in self._closed[key].items() if h >= start}
            if kept:
                self._closed[key] = kept
            else:
                del self._closed[key]
        history = {key: dict(hours) for key, hours in self._closed.items()}
        for key, hours in recent.items():
            history.setdefault(key, {}).update(hours)
        return history

    def start(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        """Refresh every `interval_s` seconds from now on (the first one at once)."""
        self._task = asyncio.create_task(self._run(interval_s), name="live-forecasts")

    async def _run(self, interval_s: float) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing spend forecasts failed; the next round retries")
            await asyncio.sleep(interval_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def forecast(
    tenant: str,
    scope: str | None,
    hourly: Mapping[datetime, int],
    budgets: Iterable[BudgetLimit],
    now: datetime,
    tz: tzinfo,
) -> ScopeForecast:
    """One scope's forecast from its hourly spend (the pure method, nothing read here)."""
    projection = project(hourly, now, tz)
    last_hour = hour_start(now, tz) - HOUR
    return ScopeForecast(
        tenant=tenant,
        scope=scope,
        as_of=now.astimezone(UTC),
        spent_today=projection.spent_today,
        spent_month=projection.spent_month,
        day_end=projection.day_end,
        month_end=projection.month_end,
        budgets=tuple(
            BudgetForecast(b.window, b.nanos, budget_exhaustion(hourly, b.nanos, b.window, now, tz))
            for b in budgets
        ),
        anomaly_hour=last_hour,
        anomaly=anomaly_score(hourly, last_hour, tz),
        history_hours=projection.history_hours,
    )


def _scopes_with_budgets(policy: Policy) -> set[str]:
    return {b.scope for b in policy.budgets if b.scope is not None and b.model is None}


def _budgets_of(policy: Policy, scope: str | None) -> list[BudgetLimit]:
    """The scope's budgets (a model's budget is not a scope forecasts cover)."""
    return [b for b in policy.budgets if b.model is None and b.scope == scope]
