"""Which events the levels and signals of now make: pure functions, no I/O.

An event exists as soon as its condition holds in its window; sending it once is
the claims' job (`gateway.alerts.claims`), so these functions may say the same
event again on every round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

from gateway.alerts.events import AlertEvent
from gateway.alerts.signals import SpendSignal
from gateway.quota.ticket import BudgetStatus
from gateway.quota.windows import Window, WindowKind

WindowsAt = Callable[[datetime], Mapping[WindowKind, Window]]

# How soon a projected exhaustion is, in stages: a scope is told again in the same window
# only when its projection moves into a nearer stage (within 7 days, then 3, then 1), never
# when it moves back out.
LEAD_DAYS = (1, 3, 7, 31)


def threshold_events(
    tenant: str, levels: Iterable[BudgetStatus], thresholds: Iterable[int]
) -> Iterator[AlertEvent]:
    """One event per threshold a budget's spend has reached in its current window.

    Spent only: a reservation is a bound on calls in flight, not money gone. A window
    is its scope, its kind and its reset time, so a new day is a new window.
    """
    percents = tuple(thresholds)
    for level in levels:
        if level.limit_nanos <= 0:
            continue
        scope = level.scope if level.scope is not None else level.model
        for percent in percents:
            if level.spent_nanos * 100 >= percent * level.limit_nanos:
                yield AlertEvent(
                    "threshold", tenant, scope, level.window,
                    level.resets_at.astimezone(UTC).isoformat(), level.resets_at,
                    threshold=percent, limit_nanos=level.limit_nanos,
                    spent_nanos=level.spent_nanos,
                )  # fmt: skip


def signal_events(
    signal: SpendSignal, windows_at: WindowsAt, *, forecast: bool, anomaly_score: float | None
) -> Iterator[AlertEvent]:
    """A projected exhaustion before the window resets (one per scope, window and lead
    stage), and an hour scoring at least ``anomaly_score`` (one per scope per hour)."""
    if forecast and signal.exhausts_at is not None:
        window = windows_at(signal.hour)[signal.window]
        if signal.exhausts_at < window.resets_at:
            lead = signal.exhausts_at - signal.hour
            within = next((d for d in LEAD_DAYS if lead <= timedelta(days=d)), LEAD_DAYS[-1])
            yield AlertEvent(
                "forecast_exhaustion", signal.tenant, signal.scope, signal.window,
                window.key, window.resets_at, exhausts_at=signal.exhausts_at,
                within_days=within,
            )  # fmt: skip
    score = signal.anomaly_score
    if anomaly_score is not None and score is not None and score >= anomaly_score:
        hour = signal.hour.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        yield AlertEvent(
            "anomaly", signal.tenant, signal.scope, "hour", hour.strftime("%Y-%m-%dT%H"),
            hour + timedelta(hours=1), score=score,
        )  # fmt: skip
