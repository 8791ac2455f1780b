"""The synthetic month is reproducible and has the incidents the backtest relies on."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from statistics import median

from gateway.forecast.backtest import BACKTEST_SCENARIO
from gateway.forecast.calendar import HOUR
from gateway.forecast.synthetic import generate


def test_the_same_seed_gives_the_same_month_and_another_seed_does_not() -> None:
    month = generate(BACKTEST_SCENARIO)
    assert month.hourly == generate(BACKTEST_SCENARIO).hourly
    assert month.hourly != generate(replace(BACKTEST_SCENARIO, seed=20)).hourly
    assert len(month.hourly) == 31 * 24


def test_the_month_has_office_hours_weekends_a_launch_and_a_runaway_loop() -> None:
    month = generate(BACKTEST_SCENARIO)
    calm = generate(replace(BACKTEST_SCENARIO, launch_factor=1.0, runaway_factor=1.0))
    ordinary = [h for h in month.hourly if h not in month.launch | month.runaway]
    noon = median(month.hourly[h] for h in ordinary if h.weekday() < 5 and h.hour == 11)
    night = median(month.hourly[h] for h in ordinary if h.weekday() < 5 and h.hour == 3)
    weekend_noon = median(month.hourly[h] for h in ordinary if h.weekday() >= 5 and h.hour == 11)
    assert noon > 10 * night
    assert weekend_noon < 0.5 * noon
    assert len(month.launch) == 3 * 24
    assert len(month.runaway) == 4
    for hour in month.launch:
        assert abs(month.hourly[hour] - 3 * calm.hourly[hour]) <= 3  # rounding only
    for hour in month.runaway:
        assert abs(month.hourly[hour] - 20 * calm.hourly[hour]) <= 20
    first = min(month.runaway)
    assert first == month.start + timedelta(days=19, hours=1)
    assert max(month.runaway) == first + 3 * HOUR
