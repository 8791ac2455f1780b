"""The live forecasts as the alerts read them (`gateway.alerts.signals.SignalSource`).

One signal per scope and budget window (the alerts send one exhaustion notice per
scope and window), and one for a scope without budgets, for its anomaly score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from gateway.alerts.signals import SpendSignal
from gateway.forecast.live import ScopeForecast


class ForecastSignals:
    def __init__(self, latest: Callable[[], Sequence[ScopeForecast]]) -> None:
        self._latest = latest

    async def signals(self, now: datetime) -> Sequence[SpendSignal]:
        return [s for f in self._latest() for s in signals_of(f)]


def signals_of(f: ScopeForecast) -> list[SpendSignal]:
    if not f.budgets:
        return [SpendSignal(f.tenant, f.scope, "month", f.anomaly_hour, None, f.anomaly)]
    return [
        SpendSignal(f.tenant, f.scope, b.window, f.anomaly_hour, b.exhausts_at, f.anomaly)
        for b in f.budgets
    ]
