"""Traces: a request span and an attempt span per upstream call, GenAI attributes, context kept."""

from __future__ import annotations

import openai
from harness import GatewayServer, config_dict
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from fake_openai import FakeOpenAIServer
from gateway.telemetry.tracing import NO_TRACING, Tracing

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"


def test_spans_carry_genai_attributes_and_the_trace_reaches_the_upstream(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with GatewayServer(
        config_dict(fake.base_url), database_url=db_url, tracing=Tracing(provider)
    ) as gw:
        client = openai.OpenAI(
            base_url=gw.base_url,
            api_key=gw.token("alpha"),
            max_retries=0,
            default_headers={"traceparent": TRACEPARENT},
        )
        resp = client.responses.create(model="gpt-5-nano", input="trace me, secret-marker-42")
    spans = {s.kind: s for s in exporter.get_finished_spans()}
    request, attempt = spans[SpanKind.SERVER], spans[SpanKind.CLIENT]
    assert request.name == "chat gpt-5-nano"
    assert format(request.context.trace_id, "032x") == CLIENT_TRACE, "the client's trace continues"
    assert attempt.parent is not None
    assert attempt.parent.span_id == request.context.span_id
    attrs = dict(request.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-5-nano"
    assert attrs["gen_ai.response.model"] == "gpt-5-nano"
    assert resp.usage is not None
    assert attrs["gen_ai.usage.output_tokens"] == resp.usage.output_tokens
    assert attrs["gateway.tenant"] == "alpha"
    cost = attrs["gateway.cost_usd"]
    assert isinstance(cost, float)
    assert cost > 0
    sent = fake.requests[-1].headers["traceparent"]
    assert sent.split("-")[1] == CLIENT_TRACE
    assert sent.split("-")[2] == format(attempt.context.span_id, "016x"), (
        "upstream sees the attempt"
    )
    everything = repr([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert "secret-marker-42" not in everything, "no prompt text in spans"
    assert gw.token("alpha") not in everything


def test_tracing_is_off_without_otel_settings() -> None:
    assert Tracing.from_env({}) is NO_TRACING
    assert (
        Tracing.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})
        is NO_TRACING
    )
    on = Tracing.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert on.enabled
    on.shutdown()
