"""OTLP export: spans written as OTLP's protobuf, read back with OpenTelemetry's own classes.

The encoder writes wire bytes by hand, so each test decodes them with the
official ``opentelemetry-proto`` messages: what a collector would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from poll import eventually

from gateway.telemetry.otlp import ExportConfig, OtlpExporter
from gateway.telemetry.tracing import (
    CLIENT,
    SERVER,
    Span,
    Tracing,
    always,
    resource_from_env,
    sampler_from_env,
)

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ATTRIBUTES = {
    "gen_ai.request.model": "gpt-5-nano",
    "gen_ai.usage.input_tokens": 12,
    "gateway.cost_usd": 0.000125,
    "gateway.stream": True,
    "gateway.delta": -3,
}


def spans() -> list[Span]:
    finished: list[Span] = []
    tracing = Tracing(finished.append, always(True))
    request = tracing.request_span(
        "chat", [(b"traceparent", PARENT.encode()), (b"tracestate", b"k=v")]
    )
    assert request is not None
    upstream: dict[str, str] = {}
    attempt = tracing.attempt_span(request, "chat gpt-5-nano", upstream)
    attempt.set_attributes(ATTRIBUTES)
    attempt.end()
    request.update_name("chat gpt-5-nano")
    request.set_attributes({"gateway.tenant": "alpha"})
    request.end()
    assert upstream["traceparent"] == attempt.traceparent()
    assert upstream["tracestate"] == "k=v"
    return finished


def decode(body: bytes) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    message.ParseFromString(body)
    return message


def value_of(any_value: Any) -> object:
    return getattr(any_value, any_value.WhichOneof("value"))


def test_spans_read_back_as_otlp_with_every_field_and_attribute_type() -> None:
    config = ExportConfig(endpoint="http://unused", headers={})
    exporter = OtlpExporter(config, resource_from_env({"OTEL_SERVICE_NAME": "gw-test"}))
    finished = spans()
    message = decode(exporter.encode(finished))
    [resource_spans] = message.resource_spans
    resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
    assert resource["service.name"] == "gw-test"
    [scope_spans] = resource_spans.scope_spans
    assert scope_spans.scope.name == "gateway"
    attempt, request = scope_spans.spans
    assert attempt.trace_id.hex() == request.trace_id.hex() == PARENT.split("-")[1]
    assert request.parent_span_id.hex() == PARENT.split("-")[2]
    assert attempt.parent_span_id == request.span_id
    assert request.span_id == finished[1].span_id.to_bytes(8, "big")
    assert (request.name, request.kind, attempt.kind) == ("chat gpt-5-nano", SERVER, CLIENT)
    assert request.trace_state == "k=v"
    assert 0 < attempt.start_time_unix_nano <= attempt.end_time_unix_nano
    assert {kv.key: value_of(kv.value) for kv in attempt.attributes} == ATTRIBUTES
    assert {kv.key: value_of(kv.value) for kv in request.attributes} == {"gateway.tenant": "alpha"}


def test_repeated_attributes_encode_the_same_from_the_cache() -> None:
    exporter = OtlpExporter(ExportConfig(endpoint="http://unused", headers={}), {})
    batch = spans() + spans()
    once = decode(exporter.encode(batch))
    again = decode(exporter.encode(batch))
    assert once == again
    assert len(once.resource_spans[0].scope_spans[0].spans) == 4


def test_samplers_follow_the_specifications_names() -> None:
    assert sampler_from_env({})(None, 5) is True  # parentbased_always_on
    assert sampler_from_env({})(False, 5) is False, "a remote parent's decision is kept"
    assert sampler_from_env({"OTEL_TRACES_SAMPLER": "always_off"})(True, 5) is False
    ratio = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}
    assert sampler_from_env(ratio)(None, 1) is True
    assert sampler_from_env(ratio)(None, (1 << 64) - 1) is False
    finished: list[Span] = []
    tracing = Tracing(finished.append, sampler_from_env({}))
    unsampled = PARENT[:-2] + "00"
    request = tracing.request_span("chat", [(b"traceparent", unsampled.encode())])
    assert request is not None
    upstream: dict[str, str] = {}
    tracing.attempt_span(request, "chat m", upstream).end()
    request.end()
    assert finished == [], "not recorded"
    assert upstream["traceparent"].endswith("-00"), "the decision travels on"


def test_export_config_reads_the_standard_variables() -> None:
    config = ExportConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20t,x-team=ai",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
    )
    assert config.endpoint == "http://collector:4318/v1/traces"
    assert config.headers == {"authorization": "Bearer t", "x-team": "ai"}
    assert (config.timeout_s, config.gzip, config.schedule_delay_s) == (2.5, True, 0.2)
    traces = ExportConfig.from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/x"})
    assert traces.endpoint == "http://c/x", "a traces endpoint is used as it is"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def collector() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A local OTLP/HTTP endpoint: its URL, and the (headers, body) of each POST it got."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def traces(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        received.append((headers, await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1/traces", received
    finally:
        await runner.cleanup()


def span_count(body: bytes) -> int:
    return len(decode(body).resource_spans[0].scope_spans[0].spans)


def test_batches_go_to_the_collector_compressed_with_its_headers_and_none_is_lost() -> None:
    async def scenario() -> tuple[int, list[tuple[dict[str, str], bytes]]]:
        async with collector() as (endpoint, received):
            config = ExportConfig(
                endpoint=endpoint, headers={"x-team": "ai"}, gzip=True, max_batch=3, max_queue=8
            )
            exporter = OtlpExporter(config, {"service.name": "gw"})
            await exporter.start()
            for _ in range(5):
                for span in spans():
                    exporter.add(span)  # 10 spans: the last 2 do not fit the queue of 8
            await exporter.aclose()  # sends what is queued
        return exporter.dropped, received

    dropped, received = asyncio.run(scenario())
    assert len(received) == 3
    assert dropped == 2
    assert all(h["content-encoding"] == "gzip" for h, _ in received)
    assert all(h["x-team"] == "ai" for h, _ in received)
    assert all(h["content-type"] == "application/x-protobuf" for h, _ in received)
    # aiohttp's server inflates a gzip body itself: it reading back proves the encoding
    counts = [span_count(body) for _, body in received]
    assert sorted(counts, reverse=True) == [3, 3, 2], "batches of at most 3, 8 spans in all"


def test_spans_short_of_a_batch_go_out_on_the_schedule() -> None:
    async def scenario() -> list[tuple[dict[str, str], bytes]]:
        async with collector() as (endpoint, received):
            config = ExportConfig(endpoint=endpoint, headers={}, schedule_delay_s=0.05)
            exporter = OtlpExporter(config, {})
            await exporter.start()
            for span in spans():
                exporter.add(span)
            await eventually(lambda: len(received) == 1, what="a scheduled export")
            await exporter.aclose()
        return received

    [(_, body)] = asyncio.run(scenario())
    assert span_count(body) == 2
