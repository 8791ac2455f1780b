"""Projections from a fitted rate: end-of-day and end-of-month spend, budget exhaustion, anomaly.

All inputs are injected (hourly spend, `now`, the time zone): no clock, no I/O,
so the same functions serve the API, the CLI, alerts and the backtest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from gateway.forecast.calendar import (
    HOUR,
    day_start,
    hour_start,
    hours,
    month_start,
    next_day_start,
    next_month_start,
)
from gateway.forecast.model import DEFAULT_PARAMS, Params, SeasonalRate, fit


@dataclass(frozen=True)
class Projection:
    """Spend so far and projected totals for the current local day and month, in nanos."""

    spent_today: int
    spent_month: int
    day_end: int
    month_end: int
    history_hours: int


def expected_between(model: SeasonalRate, start: datetime, end: datetime) -> float:
    """Expected nanos in [start, end); the running hour counts for its remaining fraction."""
    if end <= start:
        return 0.0
    first = hour_start(start, model.tz)
    total = 0.0
    for hour in hours(first, end, model.tz):
        lo = max(hour, start)
        hi = min(hour + HOUR, end)
        total += model.expected(hour) * ((hi - lo) / HOUR)
    return total


def project(
    hourly: Mapping[datetime, int],
    now: datetime,
    tz: tzinfo,
    params: Params = DEFAULT_PARAMS,
) -> Projection:
    """Project today's and this month's totals: what was spent plus what the rate expects."""
    model = fit(hourly, now, tz, params)
    day_from = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    month_from = month_start(now, tz)
    spent_today = sum(n for hour, n in hourly.items() if day_from <= hour < now)
    spent_month = sum(n for hour, n in hourly.items() if month_from <= hour < now)
    # The running hour's bucket is partial: its spend is already counted, and the
    # rate covers only what is left of it.
    day_rest = expected_between(model, now, next_day_start(now, tz))
    month_rest = expected_between(model, now, next_month_start(now, tz))
    return Projection(
        spent_today=spent_today,
        spent_month=spent_month,
        day_end=round(spent_today + day_rest),
        month_end=round(spent_month + month_rest),
        history_hours=model.history_hours,
    )


def exhaustion(
    model: SeasonalRate,
    limit: int,
    spent: int,
    now: datetime,
    until: datetime,
) -> datetime | None:
    """When spending at the expected rate reaches `limit`; None if not before `until`.

    Walked hour by hour (744 steps in a month) so the answer lands in the busy
    hours where the money actually goes, interpolated within the crossing hour.
    """
    remaining = float(limit - spent)
    if remaining <= 0:
        return now
    first = hour_start(now, model.tz)
    for hour in hours(first, until, model.tz):
        lo = max(hour, now)
        hi = min(hour + HOUR, until)
        rate = model.expected(hour)  # nanos per hour
        chunk = rate * ((hi - lo) / HOUR)
        if chunk >= remaining and rate > 0:
            return lo + HOUR * (remaining / rate)
        remaining -= chunk
    return None


Window = Literal["day", "month"]


def budget_exhaustion(
    hourly: Mapping[datetime, int],
    limit: int,
    window: Window,
    now: datetime,
    tz: tzinfo,
    params: Params = DEFAULT_PARAMS,
) -> datetime | None:
    """When a daily or monthly budget runs out at the expected rate; None if it lasts the window.

    The one call an alert or an API needs: spent-so-far and the window's end come
    from the same local calendar the budget is enforced in.
    """
    if window == "day":
        start, end = day_start(now, tz), next_day_start(now, tz)
    else:
        start, end = month_start(now, tz), next_month_start(now, tz)
    spent = sum(n for hour, n in hourly.items() if start <= hour < now)
    return exhaustion(fit(hourly, now, tz, params), limit, spent, now, end)


@dataclass(frozen=True)
class AnomalyParams:
    """When an hour's score means something, and how low an expectation may go."""

    min_history_hours: int = 168
    """A usual level per hour-of-week needs at least a week of history."""
    floor_fraction: float = 0.25
    """Expectations are floored at this fraction of the mean hour, so a few cents
    in an idle night hour are not a thousandfold anomaly."""


DEFAULT_ANOMALY = AnomalyParams()


def anomaly_score(
    hourly: Mapping[datetime, int],
    hour: datetime,
    tz: tzinfo,
    params: Params = DEFAULT_PARAMS,
    anomaly: AnomalyParams = DEFAULT_ANOMALY,
) -> float | None:
    """How many times its usual level the hour at `hour` spent; None without enough history.

    The model is fitted on the hours before `hour` only, so the hour being judged
    cannot raise its own expectation. A ratio (not a z-score) because spend noise
    grows with the level, and "20x usual" is what a person acts on.
    """
    start = hour_start(hour, tz)
    model = fit(hourly, start, tz, params)
    if model.history_hours < anomaly.min_history_hours:
        return None
    floor = anomaly.floor_fraction * model.level
    expected = max(model.expected(start), floor)
    if expected <= 0:
        return None
    return hourly.get(start, 0) / expected
