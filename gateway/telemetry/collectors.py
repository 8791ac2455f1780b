"""The gauges read at scrape time from the quota and the forecasts: budget levels and spend
projections (label sets bounded by the config, built fresh at each scrape)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True, slots=True)
class BudgetLevel:
    tenant: str  # a configured tenant, or _default
    window: str  # day, month
    model: str  # _all for the tenant's total (and for a service's or a tag's budget)
    limit_usd: float
    remaining_usd: float  # limit - spent - reserved, never below 0
    scope: str | None = None  # a service's or a tag's budget: service:<name>, tag:<k>=<v>


class BudgetCollector(Collector):
    def __init__(self) -> None:
        self.levels: Callable[[], Iterable[BudgetLevel]] = tuple

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self.levels())

    @staticmethod
    def _families(levels: Iterable[BudgetLevel] = ()) -> Iterator[Metric]:
        labels = ["tenant", "window", "model"]
        remaining = GaugeMetricFamily(
            "gateway_budget_remaining_usd",
            "What a budget window has left (limit - spent - reserved); model is _all for the "
            "tenant's total; _default is the lowest of the unlisted tenants.",
            labels=labels,
        )
        limit = GaugeMetricFamily(
            "gateway_budget_limit_usd", "A budget window's limit.", labels=labels
        )
        # Service and tag budgets: families of their own, so the tenant and model series
        # (and the alert rules on them) keep their labels.
        scoped = ["tenant", "window", "scope"]
        scope_remaining = GaugeMetricFamily(
            "gateway_budget_scope_remaining_usd",
            "What a service's or a tag's budget window has left; scope is service:<name> "
            "or tag:<key>=<value>.",
            labels=scoped,
        )
        scope_limit = GaugeMetricFamily(
            "gateway_budget_scope_limit_usd",
            "A service's or a tag's budget window's limit.",
            labels=scoped,
        )
        for level in levels:
            if level.scope is not None:
                key = [level.tenant, level.window, level.scope]
                scope_remaining.add_metric(key, level.remaining_usd)
                scope_limit.add_metric(key, level.limit_usd)
                continue
            key = [level.tenant, level.window, level.model]
            remaining.add_metric(key, level.remaining_usd)
            limit.add_metric(key, level.limit_usd)
        yield from (remaining, limit, scope_remaining, scope_limit)


@dataclass(frozen=True, slots=True)
class ForecastGauge:
    """One scope's live forecast, as the gauges show it (`gateway.forecast.live`)."""

    tenant: str
    scope: str  # _all (the tenant's total), service:<name>, tag:<key>=<value>
    day_end_usd: float
    month_end_usd: float
    exhaustion: tuple[tuple[str, float], ...]  # (window, epoch seconds) of each budget at risk
    anomaly: float | None  # the last complete hour's spend over its usual level


class ForecastCollector(Collector):
    def __init__(self) -> None:
        self.latest: Callable[[], Iterable[ForecastGauge]] = tuple

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self.latest())

    @staticmethod
    def _families(gauges: Iterable[ForecastGauge] = ()) -> Iterator[Metric]:
        projected = GaugeMetricFamily(
            "gateway_spend_forecast_usd",
            "Projected spend at the end of the local day or month (spent so far plus the "
            "seasonal hourly rate's expectation); scope is _all for the tenant's total.",
            labels=["tenant", "scope", "horizon"],
        )
        exhausted = GaugeMetricFamily(
            "gateway_budget_exhaustion_timestamp_seconds",
            "When a budget runs out at the expected rate (Unix time); absent while it lasts "
            "its window.",
            labels=["tenant", "scope", "window"],
        )
        anomaly = GaugeMetricFamily(
            "gateway_spend_anomaly_score",
            "The last complete hour's spend over its usual level for that hour of the week "
            "(1 is usual); absent with less than a week of history.",
            labels=["tenant", "scope"],
        )
        for g in gauges:
            projected.add_metric([g.tenant, g.scope, "day"], g.day_end_usd)
            projected.add_metric([g.tenant, g.scope, "month"], g.month_end_usd)
            for window, at in g.exhaustion:
                exhausted.add_metric([g.tenant, g.scope, window], at)
            if g.anomaly is not None:
                anomaly.add_metric([g.tenant, g.scope], g.anomaly)
        yield from (projected, exhausted, anomaly)
