"""``gateway_deprecated_model_calls_total``: who still calls a model that is going away."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from gateway.config.runtime import RuntimeConfig
from gateway.routing import deprecation
from gateway.routing.deprecation import ModelRetired, Notice
from gateway.telemetry.labels import tenant_label


class DeprecatedCalls:
    """Calls that met a deprecated model, by tenant, service, model and the action taken.
    Every label is bounded by the config: tenants and services as configured, models as
    the ``deprecations`` section names them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._metric = Counter(
            "gateway_deprecated_model_calls_total",
            "Calls to a deprecated model (asked for, or a route's rung), by tenant, service "
            "(_none: the tenant has no services), model and action (warn, rewrite, refuse).",
            ["tenant", "service", "model", "action"],
            registry=registry,
        )

    def note(
        self, config: RuntimeConfig, tenant: str | None, service: str | None, notice: Notice
    ) -> None:
        labels = (tenant_label(config, tenant), service or "_none", notice.model, notice.action)
        self._metric.labels(*labels).inc()

    def requested(
        self, config: RuntimeConfig, tenant: str | None, service: str | None, name: str
    ) -> tuple[str, Notice | None]:
        """`deprecation.requested` for a caller that has no plan (a Realtime session), counted
        (a refusal too): the model to serve instead of ``name``, and the notice its answer
        carries (as headers)."""
        try:
            served, notice = deprecation.requested(config, name, deprecation.today())
        except ModelRetired as retired:
            self.note(config, tenant, service, retired.notice)
            raise
        if notice is not None:
            self.note(config, tenant, service, notice)
        return served, notice
