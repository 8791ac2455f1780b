"""A seasonal hourly spend rate: level x hour-of-day profile x weekday profile.

Why this shape: AI spend follows office hours and the working week, so a flat
rate (spent so far / hours elapsed) is wrong at every hour and wrong for the
rest of the month whenever the month starts on a weekend. One month is 744
hours, too few to learn 168 hour-of-week slots independently, so the profile
is the product of a 24-slot hour-of-day shape and a 7-slot weekday factor.

Why these estimators:
- profiles are medians over days (one runaway day cannot bend them) and are
  shrunk towards flat by pseudo-days, so with little history the model falls
  back to a plain rate instead of trusting one Saturday as "the weekend";
- the level is an exponentially weighted ratio estimator (spend over expected
  shape) so it follows a lasting change within days, and each hour is capped
  at `cap` times the robust recent level, so a runaway hour moves it little.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from statistics import median

from gateway.forecast.calendar import HOUR, hour_start


@dataclass(frozen=True)
class Params:
    """Tuning of the method; the defaults are the ones the backtest checks."""

    half_life_hours: float = 96.0
    """Level memory: a lasting change is half adopted after four days."""
    cap: float = 1.5
    """An hour counts at most `cap` times the robust recent level for its slot:
    a launch or a runaway loop moves the level by at most half again."""
    hour_pseudo_days: float = 1.0
    """Shrinkage of the hour-of-day shape towards flat, in days of evidence."""
    weekday_pseudo_days: int = 2
    """Pseudo-days at the class level (working day or weekend) mixed into each weekday."""
    cap_floor: float = 0.25
    """The cap never goes below `cap` x this fraction of the level: the product profile
    underrates quiet hours (a weekend night is flatter than a weekday's), and capping
    them at their tiny expectation would bias the level down."""
    min_factor: float = 0.05
    """Floor of a slot's factor, so an always-idle hour cannot divide by zero."""


DEFAULT_PARAMS = Params()


@dataclass(frozen=True)
class SeasonalRate:
    """A fitted model: expected nanos in a local hour = level x hour factor x weekday factor."""

    tz: tzinfo
    level: float
    """Deseasonalised nanos per hour (a week's expected spend is 168 x level)."""
    hour_profile: tuple[float, ...]
    """24 factors averaging 1, by local hour of day."""
    weekday_profile: tuple[float, ...]
    """7 factors averaging 1, Monday first."""
    history_hours: int
    """Complete hours the fit saw; callers judge confidence by it."""

    def factor(self, hour: datetime) -> float:
        local = hour.astimezone(self.tz)
        return self.hour_profile[local.hour] * self.weekday_profile[local.weekday()]

    def expected(self, hour: datetime) -> float:
        """Expected nanos spent in the local hour starting at `hour`."""
        return self.level * self.factor(hour)


def fit(
    hourly: Mapping[datetime, int],
    now: datetime,
    tz: tzinfo,
    params: Params = DEFAULT_PARAMS,
) -> SeasonalRate:
    """Fit on the complete hours before `now`; the running hour is partial and would bias."""
    cutoff = hour_start(now, tz)
    series = sorted((hour.astimezone(tz), nanos) for hour, nanos in hourly.items() if hour < cutoff)
    days = _complete_days(series)
    hour_profile = _hour_profile(days, params)
    weekday_profile = _weekday_profile(days, params)
    partial = SeasonalRate(tz, 0.0, hour_profile, weekday_profile, len(series))
    level = _level(series, partial, cutoff, params)
    return SeasonalRate(tz, level, hour_profile, weekday_profile, len(series))


def _complete_days(series: list[tuple[datetime, int]]) -> dict[datetime, list[int]]:
    """Local days with all their hours present (24 outside DST changes), keyed by date."""
    by_day: dict[datetime, list[tuple[int, int]]] = {}
    for hour, nanos in series:
        key = hour.replace(hour=0)
        by_day.setdefault(key, []).append((hour.hour, nanos))
    days: dict[datetime, list[int]] = {}
    for key, entries in by_day.items():
        slots = [0] * 24
        seen = set()
        for local_hour, nanos in entries:
            slots[local_hour] += nanos
            seen.add(local_hour)
        if len(seen) >= 23:
            days[key] = slots
    return days


def _hour_profile(days: Mapping[datetime, list[int]], params: Params) -> tuple[float, ...]:
    """Median share of each hour in its day, shrunk towards flat; idle days carry no shape."""
    shapes = [[24 * nanos / sum(slots) for nanos in slots] for slots in days.values() if sum(slots)]
    if not shapes:
        return (1.0,) * 24
    count = len(shapes)
    raw = [median(shape[h] for shape in shapes) for h in range(24)]
    shrunk = [
        (count * r + params.hour_pseudo_days) / (count + params.hour_pseudo_days) for r in raw
    ]
    return _normalised([max(value, params.min_factor) for value in shrunk])


def _weekday_profile(days: Mapping[datetime, list[int]], params: Params) -> tuple[float, ...]:
    """Each weekday's median day, with pseudo-days at its class (working day or weekend) level.

    The pseudo-days are medians too: one launch Wednesday among two ordinary
    ones leaves Wednesday ordinary, while four quiet Fridays make Fridays quiet.
    """
    totals = {key: sum(slots) for key, slots in days.items()}
    if not totals or median(totals.values()) <= 0:
        return (1.0,) * 7
    typical = median(totals.values())
    ratios = [(key.weekday(), total / typical) for key, total in totals.items()]
    classes = {
        weekend: median([r for day, r in ratios if (day >= 5) == weekend] or [1.0])
        for weekend in (False, True)
    }
    factors = []
    for weekday in range(7):
        same = [r for day, r in ratios if day == weekday]
        prior = [classes[weekday >= 5]] * params.weekday_pseudo_days
        factors.append(max(median(same + prior), params.min_factor) if same + prior else 1.0)
    return _normalised(factors)


def _level(
    series: list[tuple[datetime, int]],
    shape: SeasonalRate,
    cutoff: datetime,
    params: Params,
) -> float:
    """Exponentially weighted spend over expected shape, each hour capped against a median."""
    if not series:
        return 0.0
    ceiling = params.cap * _robust_level(series, shape)
    decay = math.log(2) / params.half_life_hours
    spent = weight = 0.0
    for hour, nanos in series:
        factor = shape.factor(hour)
        w = math.exp(-decay * ((cutoff - hour) / HOUR))
        cap = ceiling * max(factor, params.cap_floor)
        spent += w * (min(float(nanos), cap) if ceiling > 0 else nanos)
        weight += w * factor
    return spent / weight if weight > 0 else 0.0


def _robust_level(series: list[tuple[datetime, int]], shape: SeasonalRate) -> float:
    """Median of the last week's daily levels: a spike of up to three days cannot move it."""
    recent = series[-168:]
    by_day: dict[datetime, list[float]] = {}
    for hour, nanos in recent:
        sums = by_day.setdefault(hour.replace(hour=0), [0.0, 0.0])
        sums[0] += nanos
        sums[1] += shape.factor(hour)
    daily = [spent / weight for spent, weight in by_day.values() if weight > 0]
    return median(daily) if daily else 0.0


def _normalised(values: list[float]) -> tuple[float, ...]:
    mean = sum(values) / len(values)
    return tuple(value / mean for value in values)
