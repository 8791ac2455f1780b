"""Which events budget levels and forecast signals make (`gateway.alerts.crossings`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.fakes import DAY_END, MONTH_END, START, USD, Clock, Levels, Signals

from gateway.alerts.crossings import signal_events, threshold_events
from gateway.alerts.events import AlertEvent
from gateway.quota.ticket import BudgetStatus


def level(
    spent: int, *, limit: int = 10 * USD, reserved: int = 0, scope: str | None = None,
    resets_at: datetime = DAY_END, window: str = "day",
) -> BudgetStatus:  # fmt: skip
    return BudgetStatus(window, None, limit, spent, reserved, resets_at, scope)


def crossed(*levels: BudgetStatus, thresholds: tuple[int, ...] = (50, 80, 100)) -> list[int]:
    return [e.threshold or 0 for e in threshold_events("acme", levels, thresholds)]


def test_a_threshold_is_crossed_when_spend_reaches_it_exactly() -> None:
    assert crossed(level(5 * USD - 1)) == []
    assert crossed(level(5 * USD)) == [50]
    assert crossed(level(8 * USD)) == [50, 80]
    assert crossed(level(12 * USD)) == [50, 80, 100]  # a soft budget run past its limit


def test_reserved_money_is_not_spent_and_a_zero_budget_crosses_nothing() -> None:
    assert crossed(level(4 * USD, reserved=6 * USD)) == []
    assert crossed(level(1, limit=0)) == []


def test_an_event_carries_its_scope_window_and_levels() -> None:
    (event,) = threshold_events("acme", [level(6 * USD, scope="service:search")], [50])
    assert (event.kind, event.tenant, event.scope, event.window) == (
        "threshold", "acme", "service:search", "day",
    )  # fmt: skip
    assert (event.limit_nanos, event.spent_nanos, event.ends_at) == (10 * USD, 6 * USD, DAY_END)


def test_the_event_id_is_the_crossing_not_the_levels() -> None:
    """Read again later with more spent, the same crossing is the same event; the same
    threshold in the next window, or of another scope, is another."""
    (first,) = threshold_events("acme", [level(5 * USD)], [50])
    (later,) = threshold_events("acme", [level(7 * USD)], [50])
    (tomorrow,) = threshold_events("acme", [level(5 * USD, resets_at=DAY_END + timedelta(1))], [50])
    (service,) = threshold_events("acme", [level(5 * USD, scope="service:a")], [50])
    (other_tenant,) = threshold_events("zeta", [level(5 * USD)], [50])
    assert first.id == later.id
    assert len({first.id, tomorrow.id, service.id, other_tenant.id}) == 4


def forecast_and_anomaly(signals: Signals, *, anomaly: float | None = 4.0) -> list[AlertEvent]:
    levels = Levels(Clock())
    return [
        e
        for s in signals.items
        for e in signal_events(
            s, lambda at: levels.windows(at.timestamp()), forecast=True, anomaly_score=anomaly
        )
    ]


def test_a_forecast_exhaustion_before_the_month_ends_is_one_event_per_scope_and_month() -> None:
    signals = Signals()
    signals.add(None, exhausts_in=timedelta(days=10))
    signals.add("tag:env=prod", exhausts_in=timedelta(days=3))
    signals.add(None, hour=START + timedelta(hours=5), exhausts_in=timedelta(days=8))
    signals.add("service:late", exhausts_in=timedelta(days=40))  # after the month: fine
    signals.add("service:never")  # never runs out
    events = forecast_and_anomaly(signals)
    assert [(e.kind, e.scope, e.window_key) for e in events] == [
        ("forecast_exhaustion", None, "2026-12"),
        ("forecast_exhaustion", "tag:env=prod", "2026-12"),
        ("forecast_exhaustion", None, "2026-12"),
    ]
    assert events[0].id == events[2].id  # later hours of the month: the same event
    assert events[0].ends_at == MONTH_END
    assert events[1].exhausts_at == START + timedelta(days=3)
    assert [e.within_days for e in events] == [31, 3, 31]


def test_a_projection_moving_into_a_nearer_stage_is_a_new_event_and_back_out_is_not() -> None:
    signals = Signals()
    for hours, days in ((0, 20), (1, 6), (2, 2.5), (3, 12), (4, 0.5)):
        signals.add(None, hour=START + timedelta(hours=hours), exhausts_in=timedelta(days=days))
    events = forecast_and_anomaly(signals)
    assert [e.within_days for e in events] == [31, 7, 3, 31, 1]
    assert len({e.id for e in events}) == 4, "back out to 31 days: the first event again"
    assert events[3].id == events[0].id


def test_an_anomalous_hour_is_one_event_per_scope_and_hour() -> None:
    signals = Signals()
    signals.add(None, score=4.0)
    signals.add(None, hour=START.replace(minute=0), score=9.0)  # the same hour
    signals.add(None, hour=START + timedelta(hours=1), score=5.0)
    signals.add("service:a", score=3.9)  # below the level
    events = forecast_and_anomaly(signals)
    assert [(e.kind, e.window, e.window_key) for e in events] == [
        ("anomaly", "hour", "2026-12-05T09"),
        ("anomaly", "hour", "2026-12-05T09"),
        ("anomaly", "hour", "2026-12-05T10"),
    ]
    assert events[0].id == events[1].id != events[2].id
    assert events[0].ends_at == datetime(2026, 12, 5, 10, tzinfo=UTC)
    assert forecast_and_anomaly(signals, anomaly=None) == []  # anomalies turned off
