"""Every Prometheus metric the gateway exports, defined in one place.

Names are prefixed ``gateway_``, in base units; labels are bounded (config
names of routes, models and tenants, fixed reason sets), never request or
user ids. Each gateway instance has its own registry, so several can live in
one process (the tests run many).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.escalations = Counter(
            "gateway_escalations_total",
            "Calls moved up a route's ladder, by the reason the smaller model failed.",
            ["route", "from_model", "to_model", "reason"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "gateway_config_reloads_total",
            "Config reloads by result (ok, rejected).",
            ["result"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
