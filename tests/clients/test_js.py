"""The Node `openai` SDK and `@openai/agents`, unchanged, through the gateway: each script in
tests/clients/js asserts what it got and exits non-zero otherwise (its output is the failure
message)."""

from __future__ import annotations

from clients.node import NODE, explain, run
from harness import GatewayServer

from fake_openai import FakeOpenAIServer
from fake_openai.faults import Fault


def node_env(gw: GatewayServer) -> dict[str, str]:
    return {"GATEWAY_BASE_URL": gw.base_url, "GATEWAY_TOKEN": gw.token()}


def test_openai_node_sdk(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    done = run([str(NODE), "sdk.mjs"], node_env(client_gw))
    assert done.returncode == 0, explain(done)
    passed = [line for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert len(passed) == 7, explain(done)  # every check in sdk.mjs ran
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths.count(("GET", "/v1/responses")) == 1, paths  # the one ResponsesWS socket


def test_openai_agents_js(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    # HTTP: the tool call, then the answer (gpt-4.1); the streamed run is the fake's echo
    # (gpt-5-nano). The WebSocket transport: the same two turns (gpt-5-mini).
    fake.inject(Fault(model="gpt-4.1", function_call=("city_weather", '{"city": "Paris"}')))
    fake.inject(Fault(model="gpt-4.1", output_text="It is sunny in Paris."))
    fake.inject(Fault(model="gpt-5-mini", function_call=("city_weather", '{"city": "Oslo"}')))
    fake.inject(Fault(model="gpt-5-mini", output_text="It is sunny in Oslo."))
    done = run([str(NODE), "agents.mjs"], node_env(client_gw))
    assert done.returncode == 0, explain(done)
    assert "ok WebSocket: a function tool" in done.stdout, explain(done)
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths.count(("POST", "/v1/responses")) == 3, paths
    assert paths.count(("GET", "/v1/responses")) == 1, paths
    socket_models = [event["model"] for _, event in fake.responses_ws_events]
    assert socket_models == ["gpt-5-mini", "gpt-5-mini"]
