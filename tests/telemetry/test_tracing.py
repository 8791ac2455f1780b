"""Traces: a request span and an attempt span per upstream call, GenAI attributes, context kept."""

from __future__ import annotations

import openai
from harness import GatewayServer, config_dict

from fake_openai import FakeOpenAIServer
from gateway.telemetry.tracing import CLIENT, NO_TRACING, SERVER, Span, Tracing

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"


def test_spans_carry_genai_attributes_and_the_trace_reaches_the_upstream(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    finished: list[Span] = []
    with GatewayServer(
        config_dict(fake.base_url), database_url=db_url, tracing=Tracing(finished.append)
    ) as gw:
        client = openai.OpenAI(
            base_url=gw.base_url,
            api_key=gw.token("alpha"),
            max_retries=0,
            default_headers={"traceparent": TRACEPARENT},
        )
        resp = client.responses.create(model="gpt-5-nano", input="trace me, secret-marker-42")
    spans = {s.kind: s for s in finished}
    request, attempt = spans[SERVER], spans[CLIENT]
    assert request.name == "chat gpt-5-nano"
    assert format(request.trace_id, "032x") == CLIENT_TRACE, "the client's trace continues"
    assert format(request.parent_id, "016x") == TRACEPARENT.split("-")[2]
    assert attempt.parent_id == request.span_id
    assert attempt.trace_id == request.trace_id
    attrs = dict(request.attributes)
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
    assert sent.split("-")[2] == format(attempt.span_id, "016x"), "upstream sees the attempt"
    assert sent.split("-")[3] == "01", "sampled, as the client asked"
    everything = repr([s.attributes for s in finished])
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
