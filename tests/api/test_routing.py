"""Routing through the official SDK: retries, escalation up the ladder, circuit breaker, headers."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import openai
import pytest
from harness import (
    Config,
    GatewayServer,
    access_lines,
    config_dict,
    ledger_row,
    ledger_rows,
    merged,
    metric_value,
    replaced,
    with_tenants,
)

from fake_openai import FakeOpenAIServer, Fault

ROUTES = {
    "default": {
        "ladder": ["gpt-5-nano", "gpt-5-mini", "gpt-4.1"],
        "escalate_on": [
            "upstream_error",
            "timeout",
            "rate_limited",
            "incomplete",
            "invalid_json",
            "schema_mismatch",
            "invalid_tool_arguments",
            "refusal",
        ],
    },
    "buffered": {
        "ladder": ["gpt-5-nano", "gpt-5-mini"],
        "escalate_on": ["incomplete", "upstream_error"],
        "buffer_streams": True,
    },
}


def config(
    fake: FakeOpenAIServer, retries: int = 0, circuit: Mapping[str, object] | None = None
) -> Config:
    upstream: dict[str, object] = {"retries": {"max_retries": retries, "base_delay_s": 0.01}}
    if circuit is not None:
        upstream["circuit"] = circuit
    base = config_dict(fake.base_url, tenants={"solo": {"models": ["default"]}})
    return merged(base, {"routes": ROUTES, "upstreams": {"openai": upstream}})


@pytest.fixture
def gw(fake: FakeOpenAIServer, db_url: str) -> Iterator[GatewayServer]:
    with GatewayServer(config(fake), database_url=db_url) as g:
        yield g


def sdk(gw: GatewayServer, tenant: str = "alpha") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


def test_a_route_serves_its_first_rung_and_says_so(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    raw = sdk(gw).responses.with_raw_response.create(model="default", input="hello")
    assert raw.headers["x-gateway-route"] == "default"
    assert raw.headers["x-gateway-model"] == "gpt-5-nano"
    assert raw.headers["x-gateway-attempts"] == "1"
    assert "x-gateway-escalations" not in raw.headers
    assert raw.parse().model == "gpt-5-nano"
    assert fake.requests[0].json()["model"] == "gpt-5-nano"


def test_a_tenant_allowed_a_route_reaches_its_rungs(gw: GatewayServer) -> None:
    solo = sdk(gw, "solo")
    assert solo.responses.create(model="default", input="hi").model == "gpt-5-nano"
    with pytest.raises(openai.PermissionDeniedError):
        solo.responses.create(model="gpt-5-mini", input="hi")


@pytest.mark.parametrize(
    ("stream", "fault", "reason", "status"),
    [
        (False, Fault(path="/v1/responses", status=503), "upstream_error", 503),
        (True, Fault(path="/v1/responses", status=503), "upstream_error", 503),
        (
            False,
            Fault(path="/v1/responses", status=429, headers={"retry-after": "30"}),
            "rate_limited",
            429,
        ),
        (False, Fault(path="/v1/responses", drop_connection=True), "upstream_error", 0),
        pytest.param(
            False, Fault(path="/v1/responses", delay_s=3), "timeout", 0, marks=pytest.mark.slow
        ),
    ],
    ids=["5xx-json", "5xx-stream", "429", "dropped", "timeout"],
)
def test_upstream_failure_escalates_to_the_next_rung_and_every_attempt_is_metered(
    stream: bool, fault: Fault, reason: str, status: int, gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(fault)
    client = sdk(gw)
    if stream:
        streamed = client.responses.with_raw_response.create(
            model="default", input="hi", stream=True
        )
        headers = streamed.headers
        events = [e.type for e in streamed.parse()]
        assert events[-1] == "response.completed"
    else:
        raw = client.responses.with_raw_response.create(model="default", input="hi")
        headers = raw.headers
        assert raw.parse().status == "completed"
    assert headers["x-gateway-attempts"] == "2"
    assert headers["x-gateway-model"] == "gpt-5-mini"
    assert headers["x-gateway-escalations"] == f"gpt-5-nano>gpt-5-mini:{reason}"
    assert [r.json()["model"] for r in fake.requests] == ["gpt-5-nano", "gpt-5-mini"]
    request_id = headers["x-gateway-request-id"]
    first = ledger_row(gw.database_url, request_id=request_id, attempt=1)
    second = ledger_row(gw.database_url, request_id=request_id, attempt=2)
    assert (first["status"], first["cost_nanos"], first["route"]) == (status, 0, "default")
    assert (second["status"], second["served_model"]) == (200, "gpt-5-mini")
    assert int(second["cost_nanos"]) > 0  # type: ignore[call-overload]


def test_the_last_rung_failing_gives_the_client_that_failure(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    for _ in range(3):
        fake.inject(Fault(path="/v1/responses", status=500))
    with pytest.raises(openai.InternalServerError) as err:
        sdk(gw).responses.create(model="default", input="hi")
    assert err.value.response.headers["x-gateway-attempts"] == "3"
    assert len(fake.requests) == 3


def test_a_concrete_model_does_not_escalate(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", status=503))
    with pytest.raises(openai.InternalServerError):
        sdk(gw).responses.create(model="gpt-5-nano", input="hi")
    assert len(fake.requests) == 1


def test_client_errors_are_not_escalated(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", status=400))
    with pytest.raises(openai.BadRequestError):
        sdk(gw).responses.create(model="default", input="hi")
    assert len(fake.requests) == 1


def test_retries_on_the_same_rung_before_escalating(fake: FakeOpenAIServer, db_url: str) -> None:
    with GatewayServer(config(fake, retries=2), database_url=db_url) as gw:
        fake.inject(Fault(path="/v1/responses", status=502))
        fake.inject(Fault(path="/v1/responses", status=429, headers={"retry-after": "0"}))
        raw = sdk(gw).responses.with_raw_response.create(model="default", input="hi")
        assert raw.headers["x-gateway-attempts"] == "3"
        assert raw.headers["x-gateway-model"] == "gpt-5-nano"
        assert [r.json()["model"] for r in fake.requests] == ["gpt-5-nano"] * 3
        rows = [
            r
            for r in ledger_rows(db_url, at_least=3)
            if r["request_id"] == raw.headers["x-gateway-request-id"]
        ]
        assert [r["status"] for r in rows] == [502, 429, 200]


def test_the_circuit_opens_after_repeated_failures(fake: FakeOpenAIServer, db_url: str) -> None:
    circuit = {"failures": 2, "cooldown_s": 60}
    with GatewayServer(config(fake, circuit=circuit), database_url=db_url) as gw:
        assert metric_value(gw, "gateway_upstream_circuit_open", upstream="openai") == 0
        for _ in range(2):
            fake.inject(Fault(path="/v1/responses", status=500))
            with pytest.raises(openai.InternalServerError):
                sdk(gw).responses.create(model="gpt-5-nano", input="hi")
        with pytest.raises(openai.InternalServerError) as err:
            sdk(gw).responses.create(model="gpt-5-nano", input="hi")
        assert err.value.status_code == 503
        assert err.value.code == "upstream_circuit_open"
        assert len(fake.requests) == 2, "an open circuit does not call the upstream"
        assert metric_value(gw, "gateway_upstream_circuit_open", upstream="openai") == 1


def test_streams_are_the_clients_once_started(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", drop_after_events=3))
    with pytest.raises(openai.APIError):
        for _ in sdk(gw).responses.create(model="default", input="a b c d", stream=True):
            pass
    assert len(fake.requests) == 1, "no escalation after the first byte"


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
STRUCTURED = {"format": {"type": "json_schema", "name": "place", "schema": SCHEMA, "strict": True}}
TOOLS = [{"type": "function", "name": "lookup", "parameters": SCHEMA, "strict": True}]


@pytest.mark.parametrize(
    ("bad", "extra", "reason"),
    [
        (Fault(model="gpt-5-nano", incomplete=True), {}, "incomplete"),
        (Fault(model="gpt-5-nano", refusal="I can't help with that."), {}, "refusal"),
        (
            Fault(model="gpt-5-nano", output_text="Paris, of course"),
            {"text": STRUCTURED},
            "invalid_json",
        ),
        (
            Fault(model="gpt-5-nano", output_text='{"town": "Paris"}'),
            {"text": STRUCTURED},
            "schema_mismatch",
        ),
        (
            Fault(model="gpt-5-nano", function_call=("lookup", '{"city": 42}')),
            {"tools": TOOLS},
            "invalid_tool_arguments",
        ),
    ],
    ids=["incomplete", "refusal", "invalid-json", "schema-mismatch", "bad-tool-args"],
)
def test_quality_failures_escalate_and_the_client_sees_one_good_answer(
    bad: Fault, extra: dict[str, object], reason: str, gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = metric_value(gw, "gateway_escalations_total", reason=reason, from_model="gpt-5-nano")
    fake.inject(bad)
    good = '{"city": "Paris"}'
    if "tools" in extra:
        fake.inject(Fault(model="gpt-5-mini", function_call=("lookup", good)))
    else:
        fake.inject(Fault(model="gpt-5-mini", output_text=good))
    raw = sdk(gw).responses.with_raw_response.create(model="default", input="Where?", **extra)  # type: ignore[call-overload]
    resp = raw.parse()
    assert raw.headers["x-gateway-escalations"] == f"gpt-5-nano>gpt-5-mini:{reason}"
    assert resp.model == "gpt-5-mini"
    assert resp.status == "completed"
    if "tools" in extra:
        assert resp.output[-1].arguments == good
    else:
        assert resp.output_text == good
    request_id = raw.headers["x-gateway-request-id"]
    rows = [ledger_row(gw.database_url, request_id=request_id, attempt=n) for n in (1, 2)]
    assert [r["served_model"] for r in rows] == ["gpt-5-nano", "gpt-5-mini"]
    assert all(int(r["cost_nanos"]) > 0 for r in rows), "the failed attempt still cost money"  # type: ignore[call-overload]
    labels = {"route": "default", "from_model": "gpt-5-nano", "to_model": "gpt-5-mini"}
    assert metric_value(gw, "gateway_escalations_total", reason=reason, **labels) == before + 1


def test_chat_quality_failure_escalates(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(model="gpt-5-nano", output_text="not json"))
    fake.inject(Fault(model="gpt-5-mini", output_text='{"city": "Rome"}'))
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "user", "content": "Where?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}},
    )
    assert raw.parse().choices[0].message.content == '{"city": "Rome"}'
    assert raw.headers["x-gateway-escalations"] == "gpt-5-nano>gpt-5-mini:invalid_json"


def test_a_buffered_route_checks_streams_before_the_client_sees_them(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-5-nano", incomplete=True))
    raw = sdk(gw).responses.with_raw_response.create(model="buffered", input="a b", stream=True)
    events = list(raw.parse())
    assert raw.headers["x-gateway-escalations"] == "gpt-5-nano>gpt-5-mini:incomplete"
    assert events[-1].type == "response.completed"
    assert events[-1].response.model == "gpt-5-mini"
    assert sum(e.type == "response.created" for e in events) == 1, "one clean stream"


def test_escalation_stops_when_the_budget_cannot_cover_the_next_rung(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    # A budget that fits a gpt-5-nano call but never a gpt-4.1 one: the incomplete nano
    # answer is delivered instead of an error.
    tight = {"models": ["*"], "max_output_tokens": 64, "budgets": {"daily_usd": 0.001}}
    cfg = replaced(
        with_tenants(config(fake), {"tight": tight}),
        "routes.default.ladder",
        ["gpt-5-nano", "gpt-4.1"],
    )
    with GatewayServer(cfg, database_url=db_url) as gw:
        fake.inject(Fault(model="gpt-5-nano", incomplete=True))
        raw = sdk(gw, "tight").responses.with_raw_response.create(model="default", input="x" * 2000)
        assert raw.parse().status == "incomplete"
        assert raw.headers["x-gateway-attempts"] == "1"


def test_each_rung_gets_its_own_output_cap(fake: FakeOpenAIServer, db_url: str) -> None:
    capper = {
        "models": ["*"],
        "max_output_tokens": 64,
        "max_output_tokens_by_model": {"gpt-5-nano": 16},
    }
    cfg = with_tenants(config(fake), {"capper": capper})
    with GatewayServer(cfg, database_url=db_url) as gw:
        fake.inject(Fault(model="gpt-5-nano", incomplete=True))
        raw = sdk(gw, "capper").responses.with_raw_response.create(model="default", input="hi")
        assert raw.headers["x-gateway-output-cap"] == "set; limit=64"
        assert [r.json()["max_output_tokens"] for r in fake.requests] == [16, 64]


def test_an_escalation_does_not_spend_the_tenants_requests_per_minute(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    limited = with_tenants(config(fake), {"paced": {"models": ["default"], "limits": {"rpm": 2}}})
    with GatewayServer(limited, database_url=db_url) as gw:
        client = sdk(gw, "paced")
        fake.inject(Fault(path="/v1/responses", status=503))  # the first rung is down once
        first = client.responses.with_raw_response.create(model="default", input="hi")
        assert first.headers["x-gateway-attempts"] == "2"
        second = client.responses.with_raw_response.create(model="default", input="again")
        assert second.headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(openai.RateLimitError) as err:
            client.responses.create(model="default", input="a third request")
        assert err.value.code == "rate_limit_exceeded"


def test_the_access_log_says_what_served_and_how_it_got_there(
    gw: GatewayServer, fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    fake.inject(Fault(path="/v1/responses", status=503))
    raw = sdk(gw).responses.with_raw_response.create(model="default", input="hi")
    (line,) = access_lines(caplog, raw.headers["x-gateway-request-id"])
    assert (line["model"], line["route"], line["served_model"]) == (
        "default",
        "default",
        "gpt-5-mini",
    )
    assert line["attempts"] == 2
    assert line["escalations"] == ["gpt-5-nano>gpt-5-mini:upstream_error"]


def test_requests_are_counted_under_the_model_that_served_them(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    served = {"route": "default", "model": "gpt-5-mini", "endpoint": "responses"}
    before = metric_value(gw, "gateway_requests_total", **served)
    fake.inject(Fault(path="/v1/responses", status=503))
    sdk(gw).responses.create(model="default", input="escalate")
    assert metric_value(gw, "gateway_requests_total", **served) == before + 1
    assert metric_value(gw, "gateway_requests_total", route="default", model="default") == 0
