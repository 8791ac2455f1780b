"""The forecast method on small hand-made series, where the right answer is known exactly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.forecast import (
    anomaly_score,
    budget_exhaustion,
    exhaustion,
    expected_between,
    fit,
    project,
)
from gateway.forecast.calendar import HOUR, hours

START = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday
OFFICE = [1] * 8 + [5] * 10 + [1] * 6  # nanos per hour, x1e6 below


def series(
    days: int, spend: Callable[[datetime], int], start: datetime = START
) -> dict[datetime, int]:
    return {hour: spend(hour) for hour in hours(start, start + timedelta(days=days), UTC)}


def office(hour: datetime) -> int:
    weekend = hour.weekday() >= 5
    return OFFICE[hour.hour] * (300_000 if weekend else 1_000_000)


def test_a_flat_rate_projects_exactly_and_runs_out_on_the_hour() -> None:
    hourly = series(10, lambda _: 1_000_000)
    now = START + timedelta(days=10)
    projection = project(hourly, now, UTC)
    assert projection.spent_month == 240_000_000
    assert projection.month_end == 720_000_000  # June: 30 days of 24 hours
    assert projection.day_end == 24_000_000
    model = fit(hourly, now, UTC)
    assert model.level == pytest.approx(1_000_000)
    limit = 240_000_000 + 50_500_000
    assert exhaustion(model, limit, 240_000_000, now, START + timedelta(days=30)) == (
        now + timedelta(hours=50, minutes=30)
    )


def test_the_running_hour_counts_its_spend_and_only_its_remaining_fraction() -> None:
    hourly = series(3, lambda _: 1_000_000)
    now = START + timedelta(days=2, minutes=45)
    hourly[START + timedelta(days=2)] = 900_000  # the running hour, partial, already counted
    projection = project(hourly, now, UTC)
    assert projection.spent_today == 900_000
    assert projection.day_end == 900_000 + 23_250_000
    model = fit(hourly, now, UTC)
    assert model.history_hours == 48  # the partial hour is not fitted


def test_exhaustion_is_none_when_the_money_lasts_and_now_when_it_is_gone() -> None:
    hourly = series(7, lambda _: 1_000_000)
    now = START + timedelta(days=7)
    model = fit(hourly, now, UTC)
    until = START + timedelta(days=30)
    assert exhaustion(model, 10**12, 168_000_000, now, until) is None
    assert exhaustion(model, 100_000_000, 168_000_000, now, until) == now


def test_two_weeks_teach_the_office_day_and_the_quiet_weekend() -> None:
    hourly = series(14, office)
    model = fit(hourly, START + timedelta(days=14), UTC)
    monday_noon = START + timedelta(days=14, hours=12)
    sunday_noon = START + timedelta(days=13, hours=12)
    assert model.expected(monday_noon) == pytest.approx(5_000_000, rel=0.15)
    assert model.expected(START + timedelta(days=14, hours=3)) == pytest.approx(1_000_000, rel=0.25)
    assert model.expected(sunday_noon) == pytest.approx(1_500_000, rel=0.25)


def test_exhaustion_lands_in_office_hours_not_at_a_flat_rate_time() -> None:
    hourly = series(14, office)
    now = START + timedelta(days=14)  # Monday 00:00
    model = fit(hourly, now, UTC)
    # 8 night hours then office hours: the 8 night hours spend about 8e6 and
    # 20e6 more are 4 office hours, so the money runs out around 12:00, not at
    # the flat-rate time (28e6 at the day's mean 2.67e6/h is about 10:30).
    when = exhaustion(model, 28_000_000, 0, now, now + timedelta(days=1))
    assert when is not None
    assert now + timedelta(hours=11) <= when <= now + timedelta(hours=13)


def test_one_runaway_hour_barely_moves_the_level() -> None:
    calm = series(10, lambda _: 1_000_000)
    spiked = dict(calm)
    spiked[START + timedelta(days=9, hours=20)] = 50_000_000
    now = START + timedelta(days=10)
    assert fit(spiked, now, UTC).level <= 1.05 * fit(calm, now, UTC).level
    # a naive mean would be 1.2x: (239 + 50) / 240


def test_a_launch_wednesday_does_not_make_every_wednesday_busy() -> None:
    def spend(hour: datetime) -> int:
        launch = hour.date() == (START + timedelta(days=16)).date()  # third Wednesday
        return 3_000_000 if launch else 1_000_000

    hourly = series(21, spend)
    model = fit(hourly, START + timedelta(days=21), UTC)
    next_wednesday = START + timedelta(days=23, hours=12)
    assert model.expected(next_wednesday) == pytest.approx(1_000_000, rel=0.1)


def test_a_quiet_start_falls_back_to_a_plain_rate() -> None:
    now = START + timedelta(hours=3)
    empty = project({}, now, UTC)
    assert (empty.month_end, empty.history_hours) == (0, 0)
    hourly = series(1, lambda h: 1_000_000 * (1 + h.hour % 3))
    model = fit(hourly, now, UTC)  # hours 0..2: 1, 2, 3 (no complete day, so no profile)
    assert model.hour_profile == (1.0,) * 24
    assert model.level == pytest.approx(2_000_000, rel=0.2)


def test_an_anomaly_is_far_above_its_hour_of_week_and_a_peak_is_not() -> None:
    hourly = series(15, office)
    peak = START + timedelta(days=14, hours=10)  # Monday 10:00, an ordinary peak
    score = anomaly_score(hourly, peak, UTC)
    assert score is not None
    assert score == pytest.approx(1.0, rel=0.2)
    runaway = START + timedelta(days=14, hours=3)
    hourly[runaway] = 20 * hourly[runaway]
    runaway_score = anomaly_score(hourly, runaway, UTC)
    assert runaway_score is not None
    assert runaway_score > 5


def test_no_anomaly_score_without_a_week_of_history() -> None:
    hourly = series(6, office)
    assert anomaly_score(hourly, START + timedelta(days=6, hours=3), UTC) is None


def test_a_dst_day_has_its_25_hours_and_the_month_end_counts_them() -> None:
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 10, 1, tzinfo=paris)
    day = datetime(2026, 10, 25, tzinfo=paris)  # clocks go back at 03:00
    assert len(list(hours(day, day + timedelta(days=1), paris))) == 25
    hourly = {h: 1_000_000 for h in hours(start, start + timedelta(days=5), paris)}
    projection = project(hourly, start + timedelta(days=5), paris)
    assert projection.month_end == (31 * 24 + 1) * 1_000_000


def test_expected_between_prorates_partial_hours() -> None:
    hourly = series(3, lambda _: 1_000_000)
    model = fit(hourly, START + timedelta(days=3), UTC)
    start = START + timedelta(days=3, minutes=30)
    assert expected_between(model, start, start + HOUR * 2) == pytest.approx(2_000_000)
    assert expected_between(model, start, start) == 0.0


def test_a_budget_window_counts_its_own_spend_and_ends_with_its_window() -> None:
    hourly = series(10, lambda _: 1_000_000)
    now = START + timedelta(days=9, hours=6)  # 6 hours into the day, 222 into the month
    day = budget_exhaustion(hourly, 10_000_000, "day", now, UTC)
    assert day == now + timedelta(hours=4)
    assert budget_exhaustion(hourly, 30_000_000, "day", now, UTC) is None  # a day is 24e6
    month = budget_exhaustion(hourly, 300_000_000, "month", now, UTC)
    assert month == now + timedelta(hours=78)
    assert budget_exhaustion(hourly, 200_000_000, "month", now, UTC) == now
