"""Live forecasts from the ledger: each scope's projection, budget exhaustion and anomaly,
the cache of closed hours, the bounded scopes, and the gauges they become.

The ledger holds five weeks of office-hours spend: 1 USD an hour from 09:00 to 18:00 on
working days, 5 cents an hour otherwise. A flat rate (spent today / hours so far) is far
off at 10:30 on a Monday; the seasonal method is not, and these tests say by how much.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from poll import eventually
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig, compile_config
from gateway.config.runtime import RuntimeConfig
from gateway.db import make_engine
from gateway.forecast.calendar import hours
from gateway.forecast.live import LiveForecasts, ScopeForecast
from gateway.forecast.live_format import forecast_json, format_forecasts, select
from gateway.forecast.scopes import MAX_TAG_SCOPES
from gateway.forecast.signals import ForecastSignals
from gateway.ledger import Ledger, LedgerRecord
from gateway.settings import Settings
from gateway.telemetry.forecasts import forecast_gauges
from gateway.telemetry.metrics import Metrics

USD = 1_000_000_000
NOW = datetime(2026, 3, 16, 10, 30, tzinfo=UTC)  # a Monday, half an hour into 10:00
START = datetime(2026, 2, 9, tzinfo=UTC)  # five weeks before, a Monday too


def config(tenant: dict[str, Any] | None = None, tz: str = "UTC") -> RuntimeConfig:
    team = tenant or {"models": ["*"], "budgets": {"daily_usd": 5, "monthly_usd": 1000}}
    raw = {
        "models": {"m": {}},
        "accounting": {"timezone": tz},
        "tenants": {"team": team},
    }
    return compile_config(GatewayConfig.model_validate(raw), {})


def office(hour: datetime) -> int:
    """Nanos in an hour of the synthetic office: 1 USD in working hours, 5 cents otherwise."""
    working = hour.weekday() < 5 and 9 <= hour.hour < 18
    return USD if working else USD // 20


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine
    engine.dispose()


Row = tuple[datetime, int, dict[str, Any]]  # ts, cost, other columns


def write(engine: Engine, rows: Iterable[Row]) -> None:
    async def scenario() -> None:
        ledger = Ledger(engine)
        for i, (ts, cost, extra) in enumerate(rows):
            fields: dict[str, Any] = {
                "request_id": f"req_{ts.timestamp():.0f}_{i}",
                "attempt": 1,
                "ts": ts,
                "tenant": "team",
                "endpoint": "responses",
                "requested_model": "m",
                "status": 200,
                "outcome": "completed",
                "cost_nanos": cost,
            }
            ledger.record(LedgerRecord(**(fields | extra)))
        await ledger.aclose()

    asyncio.run(scenario())


def office_rows(
    until: datetime,
    split: Callable[[datetime, int], list[tuple[int, dict[str, Any]]]] | None = None,
) -> list[Row]:
    """Five weeks of office spend up to `until`; the running hour has spent half its share."""
    out: list[Row] = []
    for hour in hours(START, until, UTC):
        cost = office(hour) if hour + timedelta(hours=1) <= until else office(hour) // 2
        parts = split(hour, cost) if split else [(cost, {})]
        out += [(hour, c, extra) for c, extra in parts]
    return out


def refresh(engine: Engine, cfg: RuntimeConfig, now: datetime = NOW) -> LiveForecasts:
    live = LiveForecasts(engine, lambda: cfg)
    asyncio.run(live.refresh(now))
    return live


def by_scope(live: LiveForecasts) -> dict[str | None, ScopeForecast]:
    return {f.scope: f for f in live.latest()}


def test_the_day_is_projected_from_office_hours_not_from_a_flat_rate(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    [total] = refresh(engine, config()).latest()
    assert total.scope is None
    assert total.tenant == "team"
    # 00:00-09:00 at 5 cents, 09:00-10:00 at 1 USD, half of 10:00: spent 1.95 USD.
    assert total.spent_today == 1_950_000_000
    truth_day = 1_950_000_000 + USD // 2 + 7 * USD + 6 * USD // 20  # 9.75 USD
    flat_day = total.spent_today * 24 / 10.5  # 4.46 USD
    assert abs(total.day_end - truth_day) <= 0.1 * truth_day
    assert abs(flat_day - truth_day) > 0.1 * truth_day  # the tolerance tells the two apart
    truth_month = sum(office(h) for h in hours(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), UTC))  # fmt: skip
    assert abs(total.month_end - truth_month) <= 0.1 * truth_month
    assert (
        total.spent_month
        == sum(office(h) for h in hours(datetime(2026, 3, 1, tzinfo=UTC), NOW, UTC)) - USD // 2
    )
    assert total.history_hours >= 24 * 34
    assert total.as_of == NOW


def test_a_daily_budget_runs_out_in_the_busy_hours_and_a_large_one_lasts(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    [total] = refresh(engine, config()).latest()
    day, month = total.budgets
    assert (day.window, day.limit_nanos, month.window) == ("day", 5 * USD, "month")
    # 2.45 USD at 11:00, then 1 USD an hour: 5 USD at 13:33. A flat 0.19 USD/h: not today.
    assert day.exhausts_at is not None
    assert abs(day.exhausts_at - datetime(2026, 3, 16, 13, 33, tzinfo=UTC)) <= timedelta(minutes=30)
    assert month.exhausts_at is None


def test_services_and_tags_get_their_own_forecasts_budgets_and_anomaly_scores(
    engine: Engine,
) -> None:
    def split(hour: datetime, cost: int) -> list[tuple[int, dict[str, Any]]]:
        other = cost * 2 // 5
        if hour == datetime(2026, 3, 16, 9, tzinfo=UTC):
            other *= 20  # a runaway loop in the last complete hour
        return [
            (cost - cost * 2 // 5, {"service": "search", "tags": "env=prod"}),
            (other, {"service": "other"}),
        ]

    write(engine, office_rows(NOW, split))
    tenant = {
        "models": ["*"],
        "services": {"known": {"search": {"budgets": {"daily_usd": 2}}}},
        "tags": {
            "keys": ["env"],
            "budgets": {"env=prod": {"monthly_usd": 3}, "env=dev": {"daily_usd": 1}},
        },
    }
    scopes = by_scope(refresh(engine, config(tenant)))
    assert set(scopes) == {None, "service:search", "service:other", "tag:env=prod", "tag:env=dev"}
    search, prod, dev = scopes["service:search"], scopes["tag:env=prod"], scopes["tag:env=dev"]
    assert search.spent_today == prod.spent_today == 1_950_000_000 * 3 // 5
    assert scopes["service:other"].spent_today == 1_950_000_000 * 2 // 5 + 19 * USD * 2 // 5
    assert abs(search.day_end - 9_750_000_000 * 3 // 5) <= 0.1 * 9_750_000_000 * 3 // 5
    # search: 1.17 USD at 10:30, 0.6 USD an hour from 11:00 (0.3 left of 10:00): 2 USD at ~11:53
    [search_day] = search.budgets
    assert search_day.exhausts_at is not None
    assert abs(search_day.exhausts_at - datetime(2026, 3, 16, 11, 53, tzinfo=UTC)) <= timedelta(minutes=30)  # fmt: skip
    [prod_month] = prod.budgets
    assert prod_month.exhausts_at == NOW  # spent already: runs out now
    assert (dev.spent_month, dev.day_end, dev.budgets[0].exhausts_at) == (0, 0, None)
    other_score, search_score = scopes["service:other"].anomaly, search.anomaly
    assert other_score is not None
    assert other_score > 10
    assert search_score is not None
    assert 0.5 < search_score < 2
    assert scopes["service:other"].anomaly_hour == datetime(2026, 3, 16, 9, tzinfo=UTC)


def test_closed_hours_are_read_once_and_the_last_two_hours_every_refresh(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    cfg = config()
    live = refresh(engine, cfg)
    before = live.latest()[0].spent_today
    write(
        engine,
        [
            (NOW - timedelta(hours=4), 7 * USD, {}),  # closed, cached: not read again
            (NOW - timedelta(minutes=90), 3 * USD, {}),  # within the hours read again
        ],
    )
    later = NOW + timedelta(minutes=20)
    asyncio.run(live.refresh(later))
    assert live.latest()[0].spent_today == before + 3 * USD
    assert live.reads == 2
    fresh = refresh(engine, cfg, later)  # a restart reads everything
    assert fresh.latest()[0].spent_today == before + 10 * USD
    next_day = datetime(2026, 3, 17, 10, 30, tzinfo=UTC)  # a day on: yesterday is cached
    asyncio.run(live.refresh(next_day))
    assert live.latest()[0].spent_month == fresh.latest()[0].spent_month - 7 * USD


def test_a_new_time_zone_drops_the_cache(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    cfg = config()
    live = LiveForecasts(engine, lambda: cfg)
    asyncio.run(live.refresh(NOW))
    cfg = config(tz="America/New_York")  # the lambda reads the new one
    asyncio.run(live.refresh(NOW))
    [total] = live.latest()
    assert total.spent_today == 1_950_000_000 - 4 * USD // 20  # New York's day began 04:00 UTC
    assert total.anomaly_hour.utcoffset() == timedelta(hours=-4)


def test_tag_scopes_are_bounded_to_the_budgeted_and_the_most_spent(engine: Engine) -> None:
    rows: list[Row] = [
        (NOW - timedelta(hours=1), (i + 1) * 1000, {"tags": f"user=u{i:02d}"})
        for i in range(MAX_TAG_SCOPES + 5)
    ]
    write(engine, rows)
    tenant = {
        "models": ["*"],
        "tags": {"keys": ["user"], "budgets": {"user=u00": {"daily_usd": 1}}},
    }
    tags = {f.scope for f in refresh(engine, config(tenant)).latest() if f.scope}
    cheapest_kept = 25 - MAX_TAG_SCOPES
    assert tags == {"tag:user=u00", *(f"tag:user=u{i:02d}" for i in range(cheapest_kept, 25))}


def test_unconfigured_tenants_forecast_for_the_api_but_never_become_labels(engine: Engine) -> None:
    write(engine, [(NOW - timedelta(hours=1), USD, {"tenant": "stranger"}), (NOW, USD, {})])
    raw = {"models": {"m": {}}, "tenants": {"team": {"models": ["*"]}}, "defaults": {"models": ["*"]}}  # fmt: skip
    cfg = compile_config(GatewayConfig.model_validate(raw), {})
    forecasts = refresh(engine, cfg).latest()
    assert {f.tenant for f in forecasts} == {"team", "stranger"}
    assert {g.tenant for g in forecast_gauges(forecasts, cfg)} == {"team"}
    no_defaults = refresh(engine, config()).latest()  # nothing serves it any more
    assert {f.tenant for f in no_defaults} == {"team"}


def test_the_gauges_show_projections_exhaustion_and_anomaly(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    cfg = config()
    live = refresh(engine, cfg)
    metrics = Metrics()
    metrics.watch_forecasts(lambda: forecast_gauges(live.latest(), cfg))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }
    [total] = live.latest()
    team = (("scope", "_all"), ("tenant", "team"))
    day = samples["gateway_spend_forecast_usd", (("horizon", "day"), *team)]
    month = samples["gateway_spend_forecast_usd", (("horizon", "month"), *team)]
    assert (day, month) == (total.day_end / USD, total.month_end / USD)
    at = total.budgets[0].exhausts_at
    assert at is not None
    exhaustion = {k: v for k, v in samples.items() if k[0].startswith("gateway_budget_exhaustion")}
    assert exhaustion == {  # the month's budget lasts: no series
        ("gateway_budget_exhaustion_timestamp_seconds", (*team, ("window", "day"))): at.timestamp()
    }
    assert samples["gateway_spend_anomaly_score", team] == total.anomaly


def test_json_and_table_say_it_in_usd_and_local_time(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    live = refresh(engine, config())
    [total] = live.latest()
    paris = ZoneInfo("Europe/Paris")
    data = forecast_json(total, paris)
    assert (data["scope"], data["spent_today_usd"]) == ("tenant", "1.950000")
    assert data["as_of"] == "2026-03-16T11:30:00+01:00"
    assert data["budgets"][0]["window"] == "day"
    assert data["budgets"][1]["exhausts_at"] is None
    assert (data["budgets"][0]["exhausts_at"] or "").startswith("2026-03-16T14:")
    table = format_forecasts([total], "table", paris).splitlines()
    assert table[0].split() == ["tenant", "scope", "today", "day_end", "month", "month_end", "anomaly", "runs_out"]  # fmt: skip
    assert table[2].split()[:3] == ["team", "tenant", "1.950000"]
    assert "day $5 at 2026-03-16T14:" in table[2]
    assert select(live.latest(), tenant="nobody") == []
    assert select(live.latest(), service="search") == []


def test_started_it_refreshes_at_once_by_its_clock_and_stops_when_closed(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    cfg = config()
    live = LiveForecasts(engine, lambda: cfg, clock=NOW.timestamp)

    async def scenario() -> None:
        live.start(interval_s=3600)
        await eventually(lambda: live.as_of is not None, 10, what="the first refresh")
        await live.aclose()

    asyncio.run(scenario())
    assert live.as_of == NOW
    assert [f.scope for f in live.latest()] == [None]


def test_the_refresh_interval_comes_from_the_environment() -> None:
    assert Settings.from_env({}).forecast_interval_s == 60
    assert Settings.from_env({"GATEWAY_FORECAST_INTERVAL_S": "15"}).forecast_interval_s == 15
    assert Settings.from_env({"GATEWAY_FORECAST_INTERVAL_S": "0"}).forecast_interval_s == 0
    with pytest.raises(ValueError, match="GATEWAY_FORECAST_INTERVAL_S"):
        Settings.from_env({"GATEWAY_FORECAST_INTERVAL_S": "soon"})


def test_the_alerts_read_each_budgets_exhaustion_and_the_anomaly_score(engine: Engine) -> None:
    write(engine, office_rows(NOW))
    live = refresh(engine, config())
    [total] = live.latest()
    signals = asyncio.run(ForecastSignals(live.latest).signals(NOW))
    assert [(s.scope, s.window, s.exhausts_at) for s in signals] == [
        (None, b.window, b.exhausts_at) for b in total.budgets
    ]
    assert signals[0].exhausts_at is not None, "the day budget runs out today"
    assert {(s.hour, s.anomaly_score) for s in signals} == {(total.anomaly_hour, total.anomaly)}
    unbudgeted = refresh(engine, config({"budgets": {}}))
    [signal] = asyncio.run(ForecastSignals(unbudgeted.latest).signals(NOW))
    assert (signal.window, signal.exhausts_at) == ("month", None), "its anomaly score only"
