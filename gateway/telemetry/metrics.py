"""Every Prometheus metric the gateway exports, defined in one place.

Names are prefixed ``gateway_``, in base units (seconds, USD, tokens);
labels are bounded: tenants and models are names from the config (a tenant
served by ``defaults`` is ``_default``), reasons and kinds are fixed sets,
never a request or user id. Label children are resolved once per label set
and cached, so the hot path pays a dict lookup and an add. Each gateway
instance has its own registry, so several can live in one process (tests).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.guardrails.moderation import ModerationChecks
from gateway.guardrails.toolcalls import ToolCalls
from gateway.shadow.metrics import ShadowMetrics
from gateway.telemetry.collectors import (
    BudgetCollector,
    BudgetLevel,
    ForecastCollector,
    ForecastGauge,
)
from gateway.telemetry.deprecations import DeprecatedCalls

# LLM calls take from tens of milliseconds to minutes.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 600)
# What the gateway adds: microseconds to milliseconds.
OVERHEAD_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1)
# Realtime sessions: seconds to the API's 60-minute maximum.
SESSION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
TOKEN_KINDS = (
    "input", "cached_input", "output", "reasoning",
    "audio_input", "cached_audio_input", "audio_output", "image_input",
)  # fmt: skip


class _Cached:
    """A labelled metric whose children are created once per label tuple."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.tool_calls = ToolCalls(r)  # gateway_tool_calls_total
        self.moderation = ModerationChecks(r)  # gateway_moderation_checks_total
        self.deprecated_calls = DeprecatedCalls(r)  # gateway_deprecated_model_calls_total
        self.shadow = ShadowMetrics(r)  # gateway_shadow_*
        self.requests = _Cached(Counter(
            "gateway_requests_total", "Requests answered, by tenant, route, model, endpoint and "
            "status class (2xx, 4xx, 5xx).",
            ["tenant", "route", "model", "endpoint", "status_class"], registry=r,
        ))  # fmt: skip
        self.request_duration = _Cached(Histogram(
            "gateway_request_duration_seconds", "Time from request to the last byte answered.",
            ["endpoint", "route"], buckets=LATENCY_BUCKETS, registry=r,
        ))  # fmt: skip
        self.ttft = _Cached(Histogram(
            "gateway_time_to_first_token_seconds", "Streams: time to the first byte of the answer.",
            ["endpoint", "route", "model"], buckets=LATENCY_BUCKETS, registry=r,
        ))  # fmt: skip
        self.upstream_duration = _Cached(Histogram(
            "gateway_upstream_duration_seconds", "Time spent waiting on the upstream, per attempt.",
            ["upstream", "model"], buckets=LATENCY_BUCKETS, registry=r,
        ))  # fmt: skip
        self.overhead = _Cached(Histogram(
            "gateway_overhead_seconds", "Request duration minus upstream time: the gateway's own.",
            ["endpoint"], buckets=OVERHEAD_BUCKETS, registry=r,
        ))  # fmt: skip
        self.tokens = _Cached(Counter(
            "gateway_tokens_total", "Tokens metered, by kind (reasoning is also in output).",
            ["tenant", "model", "kind"], registry=r,
        ))  # fmt: skip
        self.spend = _Cached(Counter(
            "gateway_spend_usd_total", "Cost of metered calls in USD (estimates included).",
            ["tenant", "model"], registry=r,
        ))  # fmt: skip
        self.service_spend = _Cached(Counter(
            "gateway_service_cost_usd_total", "Cost of metered calls in USD by the service "
            "inside the tenant (listed services, and other for the rest); calls of tenants "
            "without services are only in gateway_spend_usd_total.",
            ["tenant", "service"], registry=r,
        ))  # fmt: skip
        self._budgets = BudgetCollector()
        r.register(self._budgets)
        self._store = _StoreCollector()
        r.register(self._store)
        self._circuits = _CircuitCollector()
        r.register(self._circuits)
        self._forecasts = ForecastCollector()
        r.register(self._forecasts)
        Gauge(
            "gateway_build_info", "Always 1: the running gateway's version and Python.",
            ["version", "python"], registry=r,
        ).labels(_version(), platform.python_version()).set(1)  # fmt: skip
        self._declare_outcomes(r)
        self._declare_realtime(r)
        self._declare_backlog(r)
        self._declare_alerts(r)
        self._declare_cache(r)
        self._declare_guardrails(r)

    def _declare_outcomes(self, r: CollectorRegistry) -> None:
        self.rejections = _Cached(Counter(
            "gateway_rejections_total", "Requests refused before any upstream call, by reason "
            "(budget_exceeded, rate_limit_exceeded, model_not_allowed, invalid_api_key, ...).",
            ["tenant", "reason"], registry=r,
        ))  # fmt: skip
        self.escalations = _Cached(Counter(
            "gateway_escalations_total",
            "Calls moved up a route's ladder, by the reason the smaller model failed "
            "(reason repair: the same model asked to fix its JSON, from_model = to_model).",
            ["route", "from_model", "to_model", "reason"], registry=r,
        ))  # fmt: skip
        self.truncated = _Cached(Counter(
            "gateway_truncated_by_cap_total",
            "Answers that reached an output cap the gateway set or lowered (the client's own "
            "request had no such limit): the cap, not the model, ended them.",
            ["tenant", "model", "endpoint"], registry=r,
        ))  # fmt: skip
        self.upstream_errors = _Cached(Counter(
            "gateway_upstream_errors_total", "Failed upstream attempts by class (status_5xx, "
            "status_429, status_4xx, or the transport error code).",
            ["upstream", "kind"], registry=r,
        ))  # fmt: skip
        # A plain int on the loop, read at scrape time: no lock per request.
        self.in_flight = 0
        self.in_flight_gauge = Gauge(
            "gateway_in_flight_requests", "Proxied requests being served.", registry=r
        )
        self.in_flight_gauge.set_function(lambda: self.in_flight)

    def _declare_realtime(self, r: CollectorRegistry) -> None:
        self.realtime_sessions = _Cached(Gauge(
            "gateway_realtime_sessions", "Realtime sessions open.", ["tenant"], registry=r
        ))  # fmt: skip
        self.realtime_session_duration = _Cached(Histogram(
            "gateway_realtime_session_duration_seconds", "How long Realtime sessions lasted.",
            ["tenant"], buckets=SESSION_BUCKETS, registry=r,
        ))  # fmt: skip
        self.realtime_spend = _Cached(Counter(
            "gateway_realtime_spend_usd_total", "Cost of Realtime responses (WebSocket sessions "
            "and WebRTC calls) in USD; also counted in gateway_spend_usd_total.",
            ["tenant", "model"], registry=r,
        ))  # fmt: skip
        self.realtime_sessions_ended = _Cached(Counter(
            "gateway_realtime_sessions_ended_total", "Realtime sessions ended, by reason "
            "(client_closed, upstream_closed, idle_timeout, max_duration, budget_exceeded, ...).",
            ["tenant", "reason"], registry=r,
        ))  # fmt: skip

    def _declare_backlog(self, r: CollectorRegistry) -> None:
        self.config_reloads = _Cached(Counter(
            "gateway_config_reloads_total", "Config reloads by result (ok, rejected).",
            ["result"], registry=r,
        ))  # fmt: skip
        self.ledger_pending = Gauge(
            "gateway_ledger_pending_rows", "Ledger rows not yet written.", registry=r
        )
        self.ledger_lag = Gauge(
            "gateway_ledger_write_lag_seconds",
            "Age of the oldest unwritten ledger row.",
            registry=r,
        )

    def _declare_alerts(self, r: CollectorRegistry) -> None:
        self.alert_notifications = _Cached(Counter(
            "gateway_alert_notifications_total", "Budget alert notifications by kind (threshold, "
            "forecast_exhaustion, anomaly), outcome (sent; failed: a delivery's retries ran out, "
            "tried again next round; expired: dropped undelivered after its window) and webhook "
            "(a name from the config's alerts.webhooks).",
            ["kind", "outcome", "webhook"], registry=r,
        ))  # fmt: skip
        self.alerts_pending = Gauge(
            "gateway_alert_pending_notifications",
            "Notifications this replica holds until they are claimed and delivered (they grow "
            "while Redis or a webhook is unreachable).",
            registry=r,
        )

    def _declare_cache(self, r: CollectorRegistry) -> None:
        self.cache_requests = _Cached(Counter(
            "gateway_cache_requests_total", "Response cache lookups of eligible requests by "
            "result (hit; miss: served upstream, its answer kept if complete; coalesced: "
            "waited for an identical miss on this replica and answered from what it kept).",
            ["tenant", "result"], registry=r,
        ))  # fmt: skip
        self.cache_stored_bytes = _Cached(Counter(
            "gateway_cache_stored_bytes_total", "Bytes of answers written to the response cache.",
            ["tenant"], registry=r,
        ))  # fmt: skip
        self.cache_bytes = Gauge(
            "gateway_cache_bytes", "Bytes of answers held in this process's in-memory response "
            "cache (0 when the cache is in Redis).", registry=r,
        )  # fmt: skip

    def _declare_guardrails(self, r: CollectorRegistry) -> None:
        self.pii_detections = _Cached(Counter(
            "gateway_pii_detections_total", "PII and secrets found in request input, by entity "
            "(email, phone, card, iban, national_id, ip, secret) and action (logged, masked, "
            "blocked).",
            ["tenant", "entity", "action"], registry=r,
        ))  # fmt: skip

    def watch_alerts(self, pending: Callable[[], int]) -> None:
        """The alert evaluator's queue, read at scrape time."""
        self.alerts_pending.set_function(pending)

    def watch_ledger(self, pending: Callable[[], int], lag: Callable[[], float | None]) -> None:
        """Read the ledger's backlog at scrape time (nothing on the request path)."""
        self.ledger_pending.set_function(pending)
        self.ledger_lag.set_function(lambda: lag() or 0.0)

    def watch_budgets(self, levels: Callable[[], Iterable[BudgetLevel]]) -> None:
        """Read budget levels at scrape time: every budget shows from start-up, none per call."""
        self._budgets.levels = levels

    def watch_forecasts(self, latest: Callable[[], Iterable[ForecastGauge]]) -> None:
        """The latest live forecasts (`gateway.forecast.live`), read at scrape time."""
        self._forecasts.latest = latest

    def watch_upstreams(self, states: Callable[[], Iterable[tuple[str, bool]]]) -> None:
        """Each upstream's circuit breaker, read at scrape time: (name, open)."""
        self._circuits.states = states

    def watch_quota(self, quota: object) -> None:
        """The shared quota store's health, read at scrape time (nothing for the in-memory one)."""
        self._store.quota = quota

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    """Redis quota store: up, fail-open admissions, reclaimed reservations (`RedisQuota`)."""

    def __init__(self) -> None:
        self.quota: object = None

    def describe(self) -> list[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self.quota)

    @staticmethod
    def _families(quota: object) -> Iterator[Metric]:
        if quota is None or not hasattr(quota, "replica"):
            return
        up = GaugeMetricFamily(
            "gateway_quota_store_up",
            "1 while the shared Redis quota store answers; 0 while each tenant's "
            "when_store_down applies.",
            value=1 if getattr(quota, "up", False) else 0,
        )
        fail_open = CounterMetricFamily(
            "gateway_quota_fail_open_admits",
            "Calls admitted against this replica's own limits while Redis was unreachable.",
            value=getattr(quota, "fail_open_admits", 0),
        )
        reclaimed = CounterMetricFamily(
            "gateway_quota_reclaimed_reservations",
            "Reservations of dead replicas reconciled by this one.",
            value=getattr(quota, "reclaimed", 0),
        )
        yield from (up, fail_open, reclaimed)


def status_class(status: int) -> str:
    return f"{status // 100}xx" if status else "none"


class _CircuitCollector(Collector):
    """1 while an upstream's circuit breaker is open (the gateway is not calling it)."""

    def __init__(self) -> None:
        self.states: Callable[[], Iterable[tuple[str, bool]]] = tuple

    def describe(self) -> list[Metric]:
        return list(self._families(()))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self.states())

    @staticmethod
    def _families(states: Iterable[tuple[str, bool]]) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "gateway_upstream_circuit_open",
            "1 while the upstream's circuit breaker is open: calls to it are refused at once "
            "(503 upstream_circuit_open) until its cooldown ends.",
            labels=["upstream"],
        )
        for name, is_open in states:
            family.add_metric([name], 1 if is_open else 0)
        yield family


def _version() -> str:
    try:
        return version("gateway")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"
