"""Shadow traffic in Prometheus: what was tried, what was skipped, and how the pairs compare.

Every label is bounded by the config: routes and models as configured, roles
``primary``/``shadow``, results and checks from the fixed lists below. Ratios
(cost, latency, output length) are the dashboard's: the two sides' counters
and histograms carry the same labels, so ``shadow ÷ primary`` is one division.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.shadow.compare import Side

# Results of gateway_shadow_calls_total: compared | failed (the shadow answered an error) |
# skipped_<why>: busy, budget, rate_limited, refused (the payer's policy, a quota store
# down), ineligible (background, conversation, ...), large (past shadow.max_compared_bytes),
# client_gone (the client left before its answer was complete).
SIMILARITY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)


class ShadowMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.calls = Counter(
            "gateway_shadow_calls_total",
            "Sampled calls copied to a route's shadow, by route, shadow model (the rung that "
            "answered; the first rung when skipped) and result: compared, failed, "
            "skipped_busy, skipped_budget, "
            "skipped_rate_limited, skipped_refused, skipped_ineligible, skipped_large, "
            "skipped_client_gone.",
            ["route", "shadow_model", "result"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "gateway_shadow_in_flight", "Shadow calls running on this replica now.", registry=r
        )
        self.answers = Counter(
            "gateway_shadow_answers_total",
            "Answers of compared pairs, by route, role (primary: the client's, shadow), model "
            "and check: answers (all), ok, refusal, json_checked, json_valid.",
            ["route", "role", "model", "check"], registry=r,
        )  # fmt: skip
        self.cost = Counter(
            "gateway_shadow_cost_usd_total",
            "What the compared pairs' answers cost, by route, role and model.",
            ["route", "role", "model"], registry=r,
        )  # fmt: skip
        self.output_tokens = Counter(
            "gateway_shadow_output_tokens_total",
            "Output tokens of the compared pairs' answers, by route, role and model.",
            ["route", "role", "model"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "gateway_shadow_latency_seconds",
            "Whole-answer latency of the compared pairs' answers, by route, role and model.",
            ["route", "role", "model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.similarity = Histogram(
            "gateway_shadow_similarity",
            "Word overlap of the shadow's answer with the client's (1: the same words), by "
            "route and model pair; pairs where either side failed are not observed.",
            ["route", "primary_model", "shadow_model"], buckets=SIMILARITY_BUCKETS, registry=r,
        )  # fmt: skip

    def side(
        self, route: str, role: str, model: str, side: Side, latency_s: float, cost_usd: float
    ) -> None:
        """One answer of a compared pair."""
        labels = (route, role, model)
        for check, hit in (
            ("ok", side.ok),
            ("refusal", side.refusal),
            ("json_checked", side.json_valid is not None),
            ("json_valid", side.json_valid is True),
        ):
            if hit:
                self.answers.labels(*labels, check).inc()
        self.answers.labels(*labels, "answers").inc()
        self.cost.labels(*labels).inc(cost_usd)
        if side.output_tokens is not None:
            self.output_tokens.labels(*labels).inc(side.output_tokens)
        self.latency.labels(*labels).observe(latency_s)
