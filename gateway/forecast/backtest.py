"""Backtest of the forecast on a synthetic month: error per day and alert timings.

Two truths are kept because no forecast can see a launch coming: the actual
month end, and the "foreseeable" month end (what was spent so far plus the
incident-free rest of the month). The second judges the method; the first
shows what a user would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from gateway.forecast.calendar import HOUR, hours
from gateway.forecast.model import DEFAULT_PARAMS, Params, fit
from gateway.forecast.project import (
    DEFAULT_ANOMALY,
    AnomalyParams,
    anomaly_score,
    exhaustion,
    project,
)
from gateway.forecast.synthetic import Scenario, SyntheticMonth, generate

BACKTEST_SCENARIO = Scenario(month=datetime(2026, 8, 1, tzinfo=UTC), tz=UTC)
"""August 2026 starts on a Saturday: the weekend-heavy start a flat rate gets wrong."""
ANOMALY_THRESHOLD = 5.0
"""An hour at five times its usual level is an incident: launches stay under it."""
BUDGET_RUNS_OUT = timedelta(days=24, hours=12)
"""The monthly budget is what the incident-free month spends up to day 25, 12:00;
the launch and the runaway loop make the real month run out earlier."""


@dataclass(frozen=True)
class DayRow:
    """The forecasts made at the end of one day of the month."""

    day: int
    at: datetime
    """The end of the day: when the forecast is made."""
    weekday: str
    """Of the day that just ended."""
    spent: int
    forecast: int
    naive: int
    actual_error: float
    """(forecast - actual month end) / actual month end."""
    foreseeable_error: float
    naive_foreseeable_error: float
    exhaustion: datetime | None
    naive_exhaustion: datetime | None


@dataclass(frozen=True)
class Backtest:
    month: SyntheticMonth
    actual_total: int
    limit: int
    calm_exhaustion: datetime
    """When the budget would have run out without the launch and the runaway loop."""
    true_exhaustion: datetime
    """When it did run out (interpolated within the hour)."""
    rows: tuple[DayRow, ...]
    exhaustion_alert: datetime | None
    """The first hour at which the forecast ran out before the month's end."""
    anomalies: tuple[tuple[datetime, float], ...]
    """Hours scoring at or above ANOMALY_THRESHOLD, with their scores."""
    peak_score_elsewhere: float
    """The highest score outside the runaway loop (launch and office peaks included)."""
    peak_score_office: float
    """The highest score of an ordinary working-day office hour (09:00-17:59)."""


def run(
    scenario: Scenario,
    params: Params = DEFAULT_PARAMS,
    anomaly: AnomalyParams = DEFAULT_ANOMALY,
) -> Backtest:
    month = generate(scenario)
    calm = generate(replace(scenario, launch_factor=1.0, runaway_factor=1.0))
    actual_total = sum(month.hourly.values())
    calm_exhaustion = month.start + BUDGET_RUNS_OUT
    limit = sum(n for hour, n in calm.hourly.items() if hour < calm_exhaustion)
    days = round((month.end - month.start) / timedelta(days=1))
    rows = tuple(_day_row(month, calm, day, actual_total, limit, params) for day in range(1, days))
    scores = [
        (hour, anomaly_score(month.hourly, hour, scenario.tz, params, anomaly))
        for hour in hours(month.start, month.end, scenario.tz)
    ]
    known = [(hour, score) for hour, score in scores if score is not None]
    return Backtest(
        month=month,
        actual_total=actual_total,
        limit=limit,
        calm_exhaustion=calm_exhaustion,
        true_exhaustion=_crossing(month, limit),
        rows=rows,
        exhaustion_alert=_first_exhaustion_alert(month, limit, params),
        anomalies=tuple((h, s) for h, s in known if s >= ANOMALY_THRESHOLD),
        peak_score_elsewhere=max(s for h, s in known if h not in month.runaway),
        peak_score_office=max(
            s
            for h, s in known
            if h.weekday() < 5 and 9 <= h.hour < 18 and h not in month.launch | month.runaway
        ),
    )


def _day_row(
    month: SyntheticMonth,
    calm: SyntheticMonth,
    day: int,
    actual_total: int,
    limit: int,
    params: Params,
) -> DayRow:
    tz = month.start.tzinfo
    assert tz is not None
    now = month.start + timedelta(days=day)
    projection = project(month.hourly, now, tz, params)
    spent = projection.spent_month
    foreseeable = spent + sum(n for hour, n in calm.hourly.items() if hour >= now)
    elapsed = (now - month.start) / HOUR
    naive_rate = spent / elapsed
    naive = round(naive_rate * ((month.end - month.start) / HOUR))
    model = fit(month.hourly, now, tz, params)
    naive_exhaustion = None
    if naive_rate > 0 and spent + naive_rate * ((month.end - now) / HOUR) >= limit:
        naive_exhaustion = now + HOUR * max(0.0, (limit - spent) / naive_rate)
    return DayRow(
        day=day,
        at=now,
        weekday=(now - timedelta(days=1)).strftime("%a"),
        spent=spent,
        forecast=projection.month_end,
        naive=naive,
        actual_error=(projection.month_end - actual_total) / actual_total,
        foreseeable_error=(projection.month_end - foreseeable) / foreseeable,
        naive_foreseeable_error=(naive - foreseeable) / foreseeable,
        exhaustion=exhaustion(model, limit, spent, now, month.end),
        naive_exhaustion=naive_exhaustion,
    )


def _first_exhaustion_alert(month: SyntheticMonth, limit: int, params: Params) -> datetime | None:
    """Evaluated every hour, as a running gateway would."""
    tz = month.start.tzinfo
    assert tz is not None
    spent = 0
    for hour in hours(month.start, month.end, tz):
        if hour > month.start:
            model = fit(month.hourly, hour, tz, params)
            if exhaustion(model, limit, spent, hour, month.end) is not None:
                return hour
        spent += month.hourly[hour]
    return None


def _crossing(month: SyntheticMonth, limit: int) -> datetime:
    spent = 0
    for hour, nanos in sorted(month.hourly.items()):
        if spent + nanos >= limit:
            return hour + HOUR * ((limit - spent) / nanos)
        spent += nanos
    return month.end
