"""A seeded, realistic month of hourly spend for the forecast backtest.

Realistic in the ways that break naive forecasts: office hours, quiet
weekends, a slow growth trend, multiplicative noise, a launch (a few days at
3x) and a runaway loop (a few hours at 20x). The truth about the incidents is
returned with the data so a test can check alerts against it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from gateway.forecast.calendar import HOUR, hours, next_month_start

# Share of a weekday's spend by local hour: idle nights, a morning ramp, an
# office plateau with a lunch dip, an evening tail (scaled to average 1 below).
_OFFICE_SHAPE = (
    0.15, 0.12, 0.10, 0.10, 0.10, 0.12, 0.25, 0.60,
    1.30, 1.90, 2.10, 2.00, 1.60, 1.90, 2.10, 2.00,
    1.80, 1.40, 0.90, 0.60, 0.45, 0.35, 0.25, 0.20,
)  # fmt: skip
# Weekends: a flatter, lower day (batch jobs and a few users).
_WEEKEND_SHAPE = tuple(0.6 + 0.4 * value for value in _OFFICE_SHAPE)
_WEEKEND_LEVEL = 0.3


@dataclass(frozen=True)
class Scenario:
    """What to generate; the defaults are the backtest's month."""

    month: datetime
    """Any moment in the month, aware in the accounting time zone."""
    tz: tzinfo
    seed: int = 19
    base_nanos_per_hour: float = 2_000_000_000.0
    """Mean weekday hour at the start of the month ($2.00)."""
    growth_per_month: float = 0.10
    noise_sigma: float = 0.20
    launch_day: int = 12
    launch_days: int = 3
    launch_factor: float = 3.0
    runaway_start: timedelta = timedelta(days=19, hours=1)
    """Offset from the month start: day 20, 01:00 local (overnight, nobody watching)."""
    runaway_hours: int = 4
    runaway_factor: float = 20.0


@dataclass(frozen=True)
class SyntheticMonth:
    hourly: dict[datetime, int]
    """Nanos per local hour start, the whole month."""
    start: datetime
    end: datetime
    runaway: frozenset[datetime]
    """The hours the runaway loop ran in."""
    launch: frozenset[datetime]


def generate(scenario: Scenario) -> SyntheticMonth:
    """The month's hourly spend; identical for the same scenario (seeded)."""
    tz = scenario.tz
    local = scenario.month.astimezone(tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    end = next_month_start(start, tz)
    rng = random.Random(scenario.seed)
    mean_office = sum(_OFFICE_SHAPE) / 24
    runaway_first = start + scenario.runaway_start
    runaway = frozenset(
        hours(runaway_first, runaway_first + HOUR * scenario.runaway_hours, tz),
    )
    launch_from = start + timedelta(days=scenario.launch_day - 1)
    launch = frozenset(hours(launch_from, launch_from + timedelta(days=scenario.launch_days), tz))
    month_hours = (end - start) / HOUR
    hourly: dict[datetime, int] = {}
    for index, hour in enumerate(hours(start, end, tz)):
        weekend = hour.weekday() >= 5
        shape = _WEEKEND_SHAPE if weekend else _OFFICE_SHAPE
        mean = scenario.base_nanos_per_hour * shape[hour.hour] / mean_office
        mean *= _WEEKEND_LEVEL if weekend else 1.0
        mean *= 1.0 + scenario.growth_per_month * index / month_hours
        if hour in launch:
            mean *= scenario.launch_factor
        if hour in runaway:
            mean *= scenario.runaway_factor
        noise = math.exp(rng.gauss(0.0, scenario.noise_sigma) - scenario.noise_sigma**2 / 2)
        hourly[hour] = round(mean * noise)
    return SyntheticMonth(hourly, start, end, runaway, launch)
