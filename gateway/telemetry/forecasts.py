"""Live forecasts as the ``gateway_spend_forecast_usd`` family of gauges, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config.runtime import RuntimeConfig
from gateway.forecast.live import ScopeForecast
from gateway.pricing import NANOS_PER_USD
from gateway.telemetry.collectors import ForecastGauge

ALL = "_all"  # the scope label of a tenant's total, as the budget gauges' model label


def forecast_gauges(
    forecasts: Iterable[ScopeForecast], config: RuntimeConfig
) -> list[ForecastGauge]:
    """The configured tenants' forecasts: a tenant served by ``defaults`` is a raw id
    from a token, not a bounded label, so it shows in the usage API only."""
    out = []
    for f in forecasts:
        if f.tenant not in config.tenants:
            continue
        ends = tuple(
            (b.window, b.exhausts_at.timestamp()) for b in f.budgets if b.exhausts_at is not None
        )
        out.append(
            ForecastGauge(
                tenant=f.tenant,
                scope=f.scope or ALL,
                day_end_usd=f.day_end / NANOS_PER_USD,
                month_end_usd=f.month_end / NANOS_PER_USD,
                exhaustion=ends,
                anomaly=f.anomaly,
            )
        )
    return out
