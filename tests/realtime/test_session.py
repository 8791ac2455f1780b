"""RealtimeSession: what each Realtime frame does to policy and money (no sockets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import pytest
from realtime.kit import ev, ledger, run

from gateway.auth import Principal
from gateway.auth.callers import Caller
from gateway.config import GatewayConfig, compile_config
from gateway.db import make_engine
from gateway.pricing.table import load_pricing
from gateway.realtime.session import CAP_EVENT_ID, RealtimeSession
from gateway.services import Services

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "models": {"gpt-realtime": {"context_window": 32000, "max_output_tokens": 4096}},
    "tenants": {
        "team": {"models": ["*"], "max_output_tokens": 1000},
        "strict": {"models": ["*"], "max_output_tokens": 1000, "output_cap_mode": "reject"},
        "no-mcp": {"models": ["*"], "tools": ["file_search"]},
        "poor": {"models": ["*"], "max_output_tokens": 1000, "budgets": {"daily_usd": 2}},
        "closer": {
            "models": ["*"],
            "max_output_tokens": 1000,
            "budgets": {"daily_usd": 0.5},
            "realtime": {"over_budget": "close"},
        },
    },
}
# gpt-realtime, nano-USD per token (config/pricing.yaml: $ per 1M tokens).
TEXT_IN, CACHED_TEXT_IN, TEXT_OUT = 4_000, 400, 16_000
AUDIO_IN, CACHED_AUDIO_IN, AUDIO_OUT = 32_000, 400, 64_000
# The reservation: the whole context window at the dearest input price + the cap at audio output.
BOUND = 32_000 * AUDIO_IN + 1_000 * AUDIO_OUT  # $1.088


@pytest.fixture
def services(tmp_path: Path) -> Services:
    config = compile_config(
        GatewayConfig.model_validate(CONFIG), {}, pricing=load_pricing(ROOT / "config/pricing.yaml")
    )
    return Services(config, make_engine(f"sqlite:///{tmp_path}/ledger.db"))


def session(services: Services, tenant: str = "team", **kw: Any) -> RealtimeSession:
    config = services.config
    model = config.models["gpt-realtime"]
    caller = Caller(Principal(tenant, "svc", False, 0.0), config.tenants[tenant])
    price = config.pricing.price_for("gpt-realtime")
    return RealtimeSession(services.pipeline.meter, config, caller, model, price, **kw)


def started(s: RealtimeSession) -> None:
    """The upstream's greeting and its answer to the gateway's cap."""
    run(s.server_event(ev(type="session.created", session={"id": "sess_1", "type": "realtime"})))
    assert run(s.server_event(ev(type="session.updated", session={}))).forward is None


USAGE = {
    "total_tokens": 1500,
    "input_tokens": 1200,
    "output_tokens": 300,
    "input_token_details": {
        "text_tokens": 200,
        "audio_tokens": 1000,
        "image_tokens": 0,
        "cached_tokens": 600,
        "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 500, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 50, "audio_tokens": 250},
}
USAGE_COST = (
    100 * TEXT_IN
    + 100 * CACHED_TEXT_IN
    + 500 * AUDIO_IN
    + 500 * CACHED_AUDIO_IN
    + 50 * TEXT_OUT
    + 250 * AUDIO_OUT
)


def test_the_session_is_capped_before_any_client_frame(services: Services) -> None:
    [opening] = session(services).opening_events()
    event = json.loads(opening)
    assert event.pop("event_id").startswith(CAP_EVENT_ID + "_"), "a client cannot collide"
    assert event == {
        "type": "session.update",
        "session": {"type": "realtime", "max_output_tokens": 1000},
    }


def test_the_answer_to_the_gateways_own_update_is_not_shown_to_the_client(
    services: Services,
) -> None:
    s = session(services)
    created = ev(type="session.created", session={"id": "sess_1"})
    assert run(s.server_event(created)).forward == created
    assert run(s.server_event(ev(type="session.updated", session={}))).forward is None
    later = ev(type="session.updated", session={"instructions": "x"})
    assert run(s.server_event(later)).forward == later, "the client's own updates are answered"


def test_frames_the_gateway_does_not_change_pass_as_the_same_text(services: Services) -> None:
    s = session(services)
    for frame in (
        ev(type="input_audio_buffer.append", audio="AAAA"),
        ev(type="session.update", session={"instructions": "be brief", "max_output_tokens": 5}),
        "not json at all",
    ):
        assert run(s.client_event(frame)).forward == frame


def test_asking_for_more_than_the_cap_is_clamped(services: Services) -> None:
    s = session(services)
    for asked in ("inf", 5000, 100000.0, None, True):
        out = run(s.client_event(ev(type="session.update", session={"max_output_tokens": asked})))
        assert out.forward is not None
        assert json.loads(out.forward)["session"]["max_output_tokens"] == 1000
    out = run(
        s.client_event(
            ev(type="response.create", event_id="e1", response={"max_output_tokens": "inf"})
        )
    )
    assert out.forward is not None
    assert json.loads(out.forward)["response"]["max_output_tokens"] == 1000


def test_asking_for_more_than_the_cap_is_refused_in_reject_mode(services: Services) -> None:
    s = session(services, "strict")
    out = run(
        s.client_event(
            ev(type="session.update", event_id="e7", session={"max_output_tokens": "inf"})
        )
    )
    assert out.forward is None
    [error] = [json.loads(e) for e in out.to_client]
    assert error["type"] == "error"
    assert error["error"]["code"] == "output_cap_exceeded"
    assert error["error"]["event_id"] == "e7"


def test_hosted_tools_follow_the_tenants_allow_list(services: Services) -> None:
    s = session(services, "no-mcp")
    mcp = [{"type": "mcp", "server_label": "x", "server_url": "https://mcp.example"}]
    for kind, key in (("session.update", "session"), ("response.create", "response")):
        out = run(s.client_event(ev(type=kind, event_id="e1", **{key: {"tools": mcp}})))
        assert out.forward is None
        assert json.loads(out.to_client[0])["error"]["code"] == "tool_not_allowed"
    functions = ev(type="session.update", session={"tools": [{"type": "function", "name": "f"}]})
    assert run(s.client_event(functions)).forward == functions


def test_a_response_is_priced_from_its_usage_with_each_kind_at_its_own_price(
    services: Services,
) -> None:
    s = session(services)
    started(s)
    create = ev(type="response.create", event_id="e1")
    assert run(s.client_event(create)).forward == create
    run(s.server_event(ev(type="response.created", response={"id": "resp_1"})))
    run(s.server_event(ev(type="response.output_text.delta", response_id="resp_1", delta="hi")))
    run(
        s.server_event(
            ev(
                type="response.done",
                response={"id": "resp_1", "status": "completed", "usage": USAGE},
            )
        )
    )
    [row] = ledger(services)
    assert row["cost_nanos"] == USAGE_COST
    assert (row["input_tokens"], row["cached_input_tokens"]) == (100, 100)
    assert (row["audio_input_tokens"], row["cached_audio_input_tokens"]) == (500, 500)
    assert (row["output_tokens"], row["audio_output_tokens"]) == (50, 250)
    assert row["session_id"] == "sess_1"
    assert row["response_id"] == "resp_1"
    assert row["endpoint"] == "realtime"
    assert row["outcome"] == "completed"
    assert not row["estimated"]
    assert s.spent_nanos == USAGE_COST


def test_a_response_that_does_not_fit_the_budget_is_refused_and_the_session_goes_on(
    services: Services,
) -> None:
    s = session(services, "poor")  # $2 a day: one reservation of $1.088 fits, two do not
    started(s)
    assert run(s.client_event(ev(type="response.create", event_id="e1"))).forward is not None
    refused = run(s.client_event(ev(type="response.create", event_id="e2")))
    assert refused.forward is None
    assert refused.close is None
    [error] = [json.loads(e) for e in refused.to_client]
    assert error["error"]["code"] == "budget_exceeded"
    assert error["error"]["event_id"] == "e2"
    run(s.server_event(ev(type="response.created", response={"id": "resp_1"})))
    run(
        s.server_event(
            ev(
                type="response.done",
                response={"id": "resp_1", "status": "completed", "usage": USAGE},
            )
        )
    )
    assert run(s.client_event(ev(type="response.create"))).forward is not None, (
        "settled: room again"
    )


def test_over_budget_closes_the_session_when_the_tenant_says_so(services: Services) -> None:
    s = session(services, "closer")
    out = run(s.client_event(ev(type="response.create")))
    assert out.close == "budget_exceeded"


def test_a_session_that_loses_its_cap_gets_it_back(services: Services) -> None:
    s = session(services, observer=True)  # a WebRTC browser updates the session directly
    started(s)
    lost = run(s.server_event(ev(type="session.updated", session={"max_output_tokens": "inf"})))
    [again] = [json.loads(e) for e in lost.to_upstream]
    assert again["session"]["max_output_tokens"] == 1000
    assert run(s.server_event(ev(type="session.updated", session={}))).forward is None
    kept = ev(type="session.updated", session={"max_output_tokens": 200})
    assert run(s.server_event(kept)).to_upstream == []


def test_a_response_created_above_the_cap_is_cancelled(services: Services) -> None:
    s = session(services, observer=True)
    started(s)
    out = run(
        s.server_event(
            ev(type="response.created", response={"id": "resp_big", "max_output_tokens": "inf"})
        )
    )
    assert {"type": "response.cancel", "response_id": "resp_big"} in [
        json.loads(e) for e in out.to_upstream
    ]


def test_a_server_started_response_that_does_not_fit_ends_a_strict_session(
    services: Services,
) -> None:
    s = session(services, "poor")
    started(s)
    run(s.server_event(ev(type="response.created", response={"id": "resp_vad1"})))
    out = run(s.server_event(ev(type="response.created", response={"id": "resp_vad2"})))
    assert out.close == "budget_exceeded", "each utterance would start another: stop here"


def test_a_response_the_server_starts_itself_is_reserved_or_cancelled(services: Services) -> None:
    s = session(services, "poor")
    started(s)
    first = run(s.server_event(ev(type="response.created", response={"id": "resp_vad1"})))
    assert first.to_upstream == []
    assert first.forward is not None
    second = run(s.server_event(ev(type="response.created", response={"id": "resp_vad2"})))
    assert [json.loads(e) for e in second.to_upstream] == [
        {"type": "response.cancel", "response_id": "resp_vad2"}
    ]
    assert json.loads(second.to_client[0])["error"]["code"] == "budget_exceeded"
    for rid in ("resp_vad1", "resp_vad2"):  # both are billed, the cancelled one too
        run(
            s.server_event(
                ev(
                    type="response.done",
                    response={"id": rid, "status": "cancelled", "usage": USAGE},
                )
            )
        )
    assert [r["response_id"] for r in ledger(services)] == ["resp_vad1", "resp_vad2"]


def test_a_create_the_upstream_refuses_releases_its_reservation(services: Services) -> None:
    s = session(services, "poor")
    started(s)
    run(s.client_event(ev(type="response.create", event_id="e1")))
    run(
        s.server_event(
            ev(type="error", error={"type": "invalid_request_error", "code": "x", "event_id": "e1"})
        )
    )
    assert run(s.client_event(ev(type="response.create", event_id="e2"))).forward is not None
    [row] = ledger(services)
    assert (row["outcome"], row["cost_nanos"]) == ("failed", 0)


def test_a_session_ending_mid_response_is_charged_an_estimate(services: Services) -> None:
    s = session(services)
    started(s)
    run(s.client_event(ev(type="response.create")))
    run(s.server_event(ev(type="response.created", response={"id": "resp_1"})))
    for _ in range(3):
        run(s.server_event(ev(type="response.output_text.delta", response_id="resp_1", delta="w")))
    audio = "A" * 64_000  # 48,000 bytes of PCM16: one second
    run(s.server_event(ev(type="response.output_audio.delta", response_id="resp_1", delta=audio)))
    s.close()
    [row] = ledger(services)
    assert row["estimated"]
    assert row["outcome"] == "cut"
    assert (row["output_tokens"], row["audio_output_tokens"]) == (3, 20)
    assert row["cost_nanos"] == 3 * TEXT_OUT + 20 * AUDIO_OUT


def test_spend_events_only_for_clients_that_asked(services: Services) -> None:
    done = ev(
        type="response.done", response={"id": "resp_1", "status": "completed", "usage": USAGE}
    )
    quiet = session(services)
    run(quiet.client_event(ev(type="response.create")))
    run(quiet.server_event(ev(type="response.created", response={"id": "resp_1"})))
    assert run(quiet.server_event(done)).to_client == []
    chatty = session(services, report_spend=True)
    run(chatty.client_event(ev(type="response.create")))
    run(chatty.server_event(ev(type="response.created", response={"id": "resp_1"})))
    [spend] = [json.loads(e) for e in run(chatty.server_event(done)).to_client]
    assert spend["type"] == "gateway.session.spend"
    assert spend["response_cost_usd"] == pytest.approx(USAGE_COST / 1e9)


def test_the_functions_a_response_calls_are_counted_by_name(services: Services) -> None:
    s = session(services, tool_calls=services.metrics.tool_calls)
    started(s)
    run(s.client_event(ev(type="response.create", event_id="e1")))
    run(s.server_event(ev(type="response.created", response={"id": "resp_1"})))
    output = [
        {"type": "function_call", "name": "get_weather", "call_id": "c1", "arguments": "{}"},
        {"type": "function_call", "name": "get_time", "call_id": "c2", "arguments": "{}"},
    ]
    done = {"id": "resp_1", "status": "completed", "usage": USAGE, "output": output}
    run(s.server_event(ev(type="response.done", response=done)))
    text = services.metrics.exposition().decode()
    assert 'gateway_tool_calls_total{tenant="team",tool="get_weather"} 1.0' in text
    assert 'gateway_tool_calls_total{tenant="team",tool="get_time"} 1.0' in text
