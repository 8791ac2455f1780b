"""Traces: a span per request, a child span per upstream attempt, exported over OTLP/HTTP.

Configured by the standard ``OTEL_*`` variables: tracing is on when
``OTEL_TRACES_EXPORTER`` or an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set (and
``OTEL_SDK_DISABLED`` is not true); ``OTEL_TRACES_SAMPLER`` (and ``_ARG``)
choose the sampler with the specification's names; ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` describe the process. Off, :data:`NO_TRACING`
makes every call a no-op: nothing is allocated per request.

Attributes follow the GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.*``) plus
the gateway's tenant, route and cost. W3C trace context from the client is
continued, and the attempt's context is sent upstream in ``traceparent``.

Why not the OpenTelemetry SDK's spans: two of them per request cost ~49 µs on
the request path (attribute validation, locks, one object per attribute) and
~65 µs to encode; a span here is one small object, filled once, and
`gateway.telemetry.otlp` writes its wire bytes (bench/README.md, decision 12).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway.telemetry.otlp import AttributeValue, ExportConfig, OtlpExporter

_ON_VARS = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)
SERVER, CLIENT = 2, 3  # OTLP's SpanKind numbers
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_RATIO_SPACE = 1 << 64  # trace-id-ratio sampling compares the id's low 64 bits

# A sampler: (the remote parent's sampled flag, or None for a root; the trace id) → record?
Sampler = Callable[[bool | None, int], bool]


class Span:
    """One operation's record; sent to the exporter when it ends, if sampled."""

    __slots__ = (
        "_record",
        "attributes",
        "end_ns",
        "kind",
        "name",
        "parent_id",
        "sampled",
        "span_id",
        "start_ns",
        "trace_id",
        "trace_state",
    )

    def __init__(
        self,
        record: Callable[[Span], None],
        name: str,
        kind: int,
        trace_id: int,
        parent_id: int,
        sampled: bool,
        trace_state: str,
    ) -> None:
        self._record = record
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = random.getrandbits(64) or 1
        self.parent_id = parent_id
        self.sampled = sampled
        self.trace_state = trace_state
        self.attributes: dict[str, AttributeValue] = {}
        self.start_ns = time.time_ns()
        self.end_ns = 0

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self.attributes.update(attributes)

    def update_name(self, name: str) -> None:
        self.name = name

    def end(self) -> None:
        self.end_ns = time.time_ns()
        if self.sampled:
            self._record(self)

    def traceparent(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{'01' if self.sampled else '00'}"


class Tracing:
    """Starts spans; ``enabled`` is False for the no-op instance."""

    enabled = True

    def __init__(
        self,
        record: Callable[[Span], None],
        sampler: Sampler | None = None,
        exporter: OtlpExporter | None = None,
    ) -> None:
        self._record = record
        self._sampler = sampler or parent_based(always(True))
        self._exporter = exporter

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Tracing:
        if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or not any(
            env.get(v) for v in _ON_VARS
        ):
            return NO_TRACING
        exporter = OtlpExporter(ExportConfig.from_env(env), resource_from_env(env))
        return cls(exporter.add, sampler_from_env(env), exporter)

    def request_span(self, name: str, headers: list[tuple[bytes, bytes]]) -> Span | None:
        parent, state = None, ""
        for key, value in headers:
            if key == b"traceparent":
                parent = _TRACEPARENT.match(value.decode("latin-1").strip().lower())
            elif key == b"tracestate":
                state = value.decode("latin-1")
        if parent is None:
            trace_id, parent_id, remote_sampled = random.getrandbits(128) or 1, 0, None
        else:
            trace_id, parent_id = int(parent[1], 16), int(parent[2], 16)
            remote_sampled = bool(int(parent[3], 16) & 1)
        sampled = self._sampler(remote_sampled, trace_id)
        return Span(self._record, name, SERVER, trace_id, parent_id, sampled, state)

    def attempt_span(self, parent: Any, name: str, upstream_headers: dict[str, str]) -> Any:
        span = Span(
            self._record, name, CLIENT, parent.trace_id, parent.span_id, parent.sampled,
            parent.trace_state,
        )  # fmt: skip
        upstream_headers["traceparent"] = span.traceparent()
        upstream_headers.pop("tracestate", None)
        if span.trace_state:
            upstream_headers["tracestate"] = span.trace_state
        return span

    async def start(self) -> None:
        if self._exporter is not None:
            await self._exporter.start()

    async def aclose(self) -> None:
        if self._exporter is not None:
            await self._exporter.aclose()


def always(decision: bool) -> Sampler:
    return lambda parent, trace_id: decision


def ratio(rate: float) -> Sampler:
    bound = round(max(0.0, min(rate, 1.0)) * _RATIO_SPACE)
    return lambda parent, trace_id: (trace_id & (_RATIO_SPACE - 1)) < bound


def parent_based(root: Sampler) -> Sampler:
    """A remote parent's decision is kept; a root is decided by ``root``."""
    return lambda parent, trace_id: root(None, trace_id) if parent is None else parent


def sampler_from_env(env: Mapping[str, str]) -> Sampler:
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").lower()
    try:
        rate = float(env.get("OTEL_TRACES_SAMPLER_ARG") or 1.0)
    except ValueError:
        rate = 1.0
    base = name.removeprefix("parentbased_")
    root = {"always_on": always(True), "always_off": always(False)}.get(base) or ratio(rate)
    return parent_based(root) if name.startswith("parentbased_") else root


def resource_from_env(env: Mapping[str, str]) -> dict[str, AttributeValue]:
    resource: dict[str, AttributeValue] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "ai-gateway",
    }
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            resource[key.strip()] = value.strip()
    resource["service.name"] = env.get("OTEL_SERVICE_NAME") or str(
        resource.get("service.name", "ai-gateway")
    )
    return resource


class _NoTracing(Tracing):
    enabled = False

    def __init__(self) -> None:
        super().__init__(lambda span: None)

    def request_span(self, name: str, headers: list[tuple[bytes, bytes]]) -> Span | None:
        return None

    def attempt_span(self, parent: Any, name: str, upstream_headers: dict[str, str]) -> Any:
        return None


NO_TRACING: Tracing = _NoTracing()
