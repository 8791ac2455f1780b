"""The alert rounds (`gateway.alerts.evaluator`): what is sent, once, and what waits.

Replicas here share one in-process claim store and one fake quota; the same
rounds against real Redis and a real webhook are in `test_replicas.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
import pytest
from alerts.fakes import DAY_END, START, Clock, Levels, Poster, Signals, runtime

from gateway.alerts import AlertEvaluator, MemoryClaims
from gateway.alerts.claims import ClaimState, ClaimsUnavailable
from gateway.alerts.events import LATE_GRACE
from gateway.alerts.signals import NO_SIGNALS, SignalSource
from gateway.config import RuntimeConfig
from gateway.telemetry.metrics import Metrics


class FlakyClaims(MemoryClaims):
    """The process's claims, with the operations listed in ``down`` failing like Redis down."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.down: set[str] = set()

    def _check(self, op: str) -> None:
        if op in self.down:
            raise ClaimsUnavailable("Connection refused")

    async def claim(self, tenant: str, key: str, token: str, lease_s: float) -> ClaimState:
        self._check("claim")
        return await super().claim(tenant, key, token, lease_s)

    async def mark_sent(self, tenant: str, key: str, keep_s: float) -> None:
        self._check("mark_sent")
        await super().mark_sent(tenant, key, keep_s)


class Replica:
    def __init__(
        self,
        config: RuntimeConfig,
        levels: Levels,
        claims: MemoryClaims,
        *,
        poster: Poster | None = None,
        signals: SignalSource = NO_SIGNALS,
    ) -> None:
        self.config, self.clock = config, levels.clock
        self.metrics = Metrics()
        self.poster = poster if poster is not None else Poster()
        self.evaluator = AlertEvaluator(
            lambda: self.config, levels, claims, self.metrics, poster=self.poster,
            signals=signals, clock=self.clock, sleep=self.clock.sleep,
        )  # fmt: skip

    def round(self) -> None:
        asyncio.run(self.evaluator.round())

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(p.body) for p in self.poster.posts]

    def sent(self) -> list[tuple[str, int | None]]:
        return [(b["kind"], b["threshold_percent"]) for b in self.bodies()]

    def count(self, kind: str, outcome: str, webhook: str = "hook") -> float:
        labels = {"kind": kind, "outcome": outcome, "webhook": webhook}
        return (
            self.metrics.registry.get_sample_value("gateway_alert_notifications_total", labels) or 0
        )

    def pending(self) -> float:
        return self.metrics.registry.get_sample_value("gateway_alert_pending_notifications") or 0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def levels(clock: Clock) -> Levels:
    return Levels(clock)


def replica(levels: Levels, config: RuntimeConfig | None = None, **kw: Any) -> Replica:
    return Replica(config or runtime(), levels, MemoryClaims(levels.clock), **kw)


def test_each_threshold_is_sent_once_as_spend_rises(levels: Levels) -> None:
    r = replica(levels)
    levels.spend("acme", 4.99)
    r.round()
    assert r.sent() == []
    levels.spend("acme", 5)
    r.round()
    r.round()
    assert r.sent() == [("threshold", 50)]
    levels.spend("acme", 9)
    r.round()
    levels.spend("acme", 10)
    r.round()
    r.round()
    assert r.sent() == [("threshold", 50), ("threshold", 80), ("threshold", 100)]
    assert r.count("threshold", "sent") == 3
    assert r.pending() == 0
    failed = {"kind": "threshold", "outcome": "failed", "webhook": "hook"}
    total = "gateway_alert_notifications_total"
    assert r.metrics.registry.get_sample_value(total, failed) == 0  # exported from the start
    assert [b["spent_usd"] for b in r.bodies()] == [5, 9, 10]


def test_the_next_window_is_crossed_afresh(levels: Levels, clock: Clock) -> None:
    r = replica(levels)
    levels.spend("acme", 6)
    levels.spend("acme", 60, window="month")
    r.round()
    clock.advance((DAY_END - START).total_seconds() + 60)  # the next day, the same month
    r.round()
    days = [(b["window"], b["resets_at"]) for b in r.bodies()]
    assert days == [
        ("day", "2026-12-06T00:00:00Z"),
        ("month", "2027-01-01T00:00:00Z"),
        ("day", "2026-12-07T00:00:00Z"),
    ]


def test_service_and_tag_budgets_are_their_own_scopes(levels: Levels) -> None:
    tenants = {
        "acme": {
            "services": {"known": {"search": {"budgets": {"daily_usd": 2}}}},
            "tags": {"keys": ["env"], "budgets": {"env=prod": {"monthly_usd": 4}}},
        }
    }
    r = replica(levels, runtime(tenants=tenants))
    levels.spend("acme", 1, scope="service:search")
    levels.spend("acme", 3.5, window="month", scope="tag:env=prod")
    r.round()
    scopes = [(b["scope"], b["window"], b["threshold_percent"]) for b in r.bodies()]
    assert scopes == [
        ({"kind": "service", "name": "search"}, "day", 50),
        ({"kind": "tag", "name": "env=prod"}, "month", 50),
        ({"kind": "tag", "name": "env=prod"}, "month", 80),
    ]


def test_a_failed_delivery_is_counted_and_sent_on_a_later_round(levels: Levels) -> None:
    r = replica(levels, poster=Poster(500, 503, 502))  # the three attempts of one round
    levels.spend("acme", 5)
    r.round()
    assert r.count("threshold", "failed") == 1
    assert r.pending() == 1
    assert r.clock.slept == [1, 2]
    r.round()
    r.round()
    assert r.count("threshold", "sent") == 1
    assert r.pending() == 0
    assert len(r.poster.posts) == 4  # three failed, one taken


def test_while_claims_cannot_be_asked_nothing_is_sent_or_dropped(
    levels: Levels, caplog: pytest.LogCaptureFixture
) -> None:
    claims = FlakyClaims(levels.clock)
    claims.down = {"claim"}
    r = Replica(runtime(), levels, claims)
    levels.spend("acme", 8)
    r.round()
    r.round()
    assert r.poster.posts == []
    assert r.pending() == 2
    assert caplog.text.count("claims store unreachable; 2 notifications pending") == 2  # a round
    claims.down = set()
    r.round()
    r.round()
    assert r.sent() == [("threshold", 50), ("threshold", 80)]
    assert r.pending() == 0


def test_delivered_but_not_marked_is_marked_later_not_sent_again(levels: Levels) -> None:
    claims = FlakyClaims(levels.clock)
    claims.down = {"mark_sent"}
    r = Replica(runtime(), levels, claims)
    levels.spend("acme", 5)
    r.round()
    assert r.sent() == [("threshold", 50)]
    assert r.pending() == 1  # delivered, its mark to be stored
    r.round()
    claims.down = set()
    r.round()
    assert r.pending() == 0
    assert len(r.poster.posts) == 1
    other = Replica(runtime(), levels, claims)  # a replica that comes later sees it sent
    other.round()
    assert other.poster.posts == []


def test_a_replica_that_dies_mid_delivery_hands_it_over_after_the_lease(levels: Levels) -> None:
    claims = MemoryClaims(levels.clock)
    dying = Replica(runtime(), levels, claims, poster=Poster())
    alive = Replica(runtime(), levels, claims)
    levels.spend("acme", 5)

    async def scenario() -> None:
        dying.poster.hang, dying.poster.reached = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(dying.evaluator.round())
        await dying.poster.reached.wait()  # claimed, and its POST is on the wire
        task.cancel()  # the process is gone before it is answered or marks it sent
        await alive.evaluator.round()
        assert alive.poster.posts == []  # the lease still runs
        levels.clock.advance(120)  # lease_s
        await alive.evaluator.round()
        await alive.evaluator.round()

    asyncio.run(scenario())
    assert alive.sent() == [("threshold", 50)]
    assert alive.bodies()[0]["id"] == orjson.loads(dying.poster.posts[0].body)["id"]


def test_replicas_sharing_claims_send_each_crossing_once(levels: Levels) -> None:
    claims = MemoryClaims(levels.clock)
    replicas = [Replica(runtime(), levels, claims) for _ in range(3)]
    for usd in (3, 5, 8, 8, 11):
        levels.spend("acme", usd)
        for r in replicas:
            r.round()
    sent = sorted(s for r in replicas for s in r.sent())
    assert sent == [("threshold", 50), ("threshold", 80), ("threshold", 100)]
    assert all(r.pending() == 0 for r in replicas)


def two_webhooks(tenants: Mapping[str, Any]) -> RuntimeConfig:
    hooks = {
        "hook": {"url": "http://hooks.test/in", "secret_env": "HOOK_SECRET"},
        "chat": {"url": "https://hooks.slack.test/services/x", "format": "slack"},
    }
    return runtime({"webhooks": hooks, "default_webhooks": ["hook"]}, tenants)


def test_a_tenant_chooses_its_webhooks_and_thresholds(levels: Levels) -> None:
    daily = {"budgets": {"daily_usd": 10}}
    config = two_webhooks({
        "acme": {**daily, "alerts": {"webhooks": ["chat", "hook"], "thresholds": [90]}},
        "zeta": daily,
        "quiet": {**daily, "alerts": {"enabled": False}},
    })  # fmt: skip
    r = replica(levels, config)
    for tenant in ("acme", "zeta", "quiet"):
        levels.spend(tenant, 9.5)
    r.round()
    posts = sorted((p.url, p.headers["X-Gateway-Alert-Id"]) for p in r.poster.posts)
    assert len(posts) == 4  # acme 90% to both; zeta 50% and 80% to the default one
    assert r.count("threshold", "sent", "chat") == 1
    assert r.count("threshold", "sent", "hook") == 3
    texts = [b.get("text", "") for b in r.bodies()]
    assert sum("*acme*" in t and "90% threshold" in t for t in texts) == 1
    assert {b["tenant"] for b in r.bodies() if "tenant" in b} == {"acme", "zeta"}


def test_unlisted_tenants_are_watched_under_defaults(levels: Levels) -> None:
    r = replica(levels, runtime(defaults={"budgets": {"daily_usd": 2}}))
    levels.spend("walk-in", 1)
    r.round()
    assert [(b["tenant"], b["threshold_percent"]) for b in r.bodies()] == [("walk-in", 50)]


def test_forecast_and_anomaly_signals_are_sent_once_per_window(levels: Levels) -> None:
    signals = Signals()
    r = replica(levels, signals=signals)
    signals.add("service:search", exhausts_in=timedelta(days=5), score=6.0)
    r.round()
    r.round()
    signals.items.clear()
    signals.add("service:search", hour=START + timedelta(hours=1), exhausts_in=timedelta(days=4))
    signals.add(None, hour=START + timedelta(hours=1), score=1.0)  # usual
    r.round()
    signals.add(None, hour=START + timedelta(hours=2), score=4.5)
    r.round()
    assert [(b["kind"], b["scope"]["name"], b["window_key"]) for b in r.bodies()] == [
        ("forecast_exhaustion", "search", "2026-12"),
        ("anomaly", "search", "2026-12-05T09"),
        ("anomaly", None, "2026-12-05T11"),
    ]
    assert r.bodies()[0]["projected_exhaustion_at"] == "2026-12-10T09:30:00Z"
    assert r.count("forecast_exhaustion", "sent") == 1
    assert r.count("anomaly", "sent") == 2


def test_a_forecast_that_comes_nearer_is_sent_again_once_per_stage(levels: Levels) -> None:
    signals = Signals()
    r = replica(levels, signals=signals)
    for hours, days in ((0, 5), (1, 2), (2, 6), (3, 2.5)):
        signals.items.clear()
        at = START + timedelta(hours=hours)
        signals.add("service:search", hour=at, exhausts_in=timedelta(days=days))
        r.round()
    assert [b["within_days"] for b in r.bodies()] == [7, 3]
    assert r.count("forecast_exhaustion", "sent") == 2


def test_signals_are_off_when_the_config_says_so(levels: Levels) -> None:
    signals = Signals()
    signals.add(None, exhausts_in=timedelta(days=1), score=99.0)
    r = replica(levels, runtime({"forecast": False, "anomaly_score": None}), signals=signals)
    r.round()
    assert r.poster.posts == []


def test_an_event_undelivered_past_its_window_is_dropped_and_counted(
    levels: Levels, clock: Clock
) -> None:
    r = replica(levels, poster=Poster(*[500] * 100))
    levels.spend("acme", 5)
    r.round()
    assert r.pending() == 1
    levels.spend("acme", 0)
    clock.advance((DAY_END + LATE_GRACE - START).total_seconds())
    r.round()
    assert r.pending() == 0
    assert r.count("threshold", "expired") == 1
    assert r.count("threshold", "sent") == 0


def test_without_webhooks_no_budget_is_read(levels: Levels) -> None:
    r = replica(levels, runtime({"webhooks": {}}))
    levels.spend("acme", 10)
    r.round()
    assert levels.reads == 0


def test_the_loop_survives_a_failing_round_and_waits_interval_s(levels: Levels) -> None:
    r = replica(levels, runtime({"interval_s": 7}))
    levels.down = True
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        levels.down = False
        levels.spend("acme", 5)
        if len(sleeps) == 2:
            raise asyncio.CancelledError

    r.evaluator._sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(r.evaluator.run_forever())
    assert sleeps == [7, 7]
    assert r.sent() == [("threshold", 50)]
