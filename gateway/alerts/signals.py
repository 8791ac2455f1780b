"""Forecasts and anomaly scores, from whatever computes them (`gateway.forecast`, wired by the app).

The alerts need only this much of a forecast; keeping the interface this small
lets the forecast change its method without the alerts knowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.quota.windows import WindowKind


@dataclass(frozen=True, slots=True)
class SpendSignal:
    tenant: str
    scope: str | None  # `gateway.config.scopes`
    window: WindowKind  # the budget window ``exhausts_at`` is projected for (month, usually)
    hour: datetime  # aware: the start of the hour the figures refer to
    exhausts_at: datetime | None  # when the window's budget is projected to run out; None: never
    anomaly_score: float | None  # how far the hour's spend is above its usual level; None: unknown


class SignalSource(Protocol):
    async def signals(self, now: datetime) -> Sequence[SpendSignal]:
        """The latest signal of every scope that has one."""
        ...


class _NoSignals:
    async def signals(self, now: datetime) -> Sequence[SpendSignal]:
        return ()


NO_SIGNALS: SignalSource = _NoSignals()
