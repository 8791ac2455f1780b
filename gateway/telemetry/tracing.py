"""OpenTelemetry traces: a span per request, a child span per upstream attempt.

Configured entirely by the standard ``OTEL_*`` environment variables: tracing
is on when ``OTEL_TRACES_EXPORTER`` or an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is
set (and ``OTEL_SDK_DISABLED`` is not true), exporting over OTLP/HTTP with
the SDK's batch processor. Off, :data:`NO_TRACING` makes every call a no-op:
the request path does not import the SDK or allocate a span.

Attributes follow the GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.*``) plus
the gateway's tenant, route and cost. W3C trace context from the client is
continued, and the attempt's context is sent upstream in ``traceparent``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

_ON_VARS = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


class Tracing:
    """Starts and ends spans; ``enabled`` is False for the no-op instance."""

    enabled = True

    def __init__(self, provider: Any) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._provider = provider
        self._tracer = provider.get_tracer("gateway")
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Tracing:
        if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or not any(
            env.get(v) for v in _ON_VARS
        ):
            return NO_TRACING
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(
            resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "ai-gateway")})
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    def request_span(self, name: str, headers: list[tuple[bytes, bytes]]) -> Any:
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in headers
            if k in (b"traceparent", b"tracestate")
        }
        parent = self._propagator.extract(carrier) if carrier else None
        return self._tracer.start_span(name, context=parent, kind=_server_kind())

    def attempt_span(self, parent: Any, name: str, upstream_headers: dict[str, str]) -> Any:
        from opentelemetry import trace

        span = self._tracer.start_span(
            name, context=trace.set_span_in_context(parent), kind=_client_kind()
        )
        upstream_headers.pop("traceparent", None)
        upstream_headers.pop("tracestate", None)
        self._propagator.inject(upstream_headers, context=trace.set_span_in_context(span))
        return span

    def shutdown(self) -> None:
        self._provider.shutdown()


def _server_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.SERVER


def _client_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT


class _NoTracing(Tracing):
    enabled = False

    def __init__(self) -> None:
        pass

    def request_span(self, name: str, headers: list[tuple[bytes, bytes]]) -> Any:
        return None

    def attempt_span(self, parent: Any, name: str, upstream_headers: dict[str, str]) -> Any:
        return None

    def shutdown(self) -> None:
        pass


NO_TRACING: Tracing = _NoTracing()
