"""RealtimeSession, no sockets: the bound held for voice-started responses, the transcription
model the upstream reports, binary frames (`gateway.realtime.voice`, `.session_config`,
`.pump`)."""

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
from gateway.realtime.pump import binary_event
from gateway.realtime.session import RealtimeSession
from gateway.services import Services

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "models": {
        "gpt-realtime": {"context_window": 32000, "max_output_tokens": 4096},
        "whisper-1": {},
    },
    "tenants": {
        # A bound is $1.088 (test_session.BOUND): two fit in $2.5, not three.
        "voice": {"models": ["*"], "max_output_tokens": 1000, "budgets": {"daily_usd": 2.5}},
        "rt-only": {"models": ["gpt-realtime"], "max_output_tokens": 1000},
    },
}
VAD = {"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
FALSE = {"create_response": False}
NO_VAD = {"audio": {"input": {"turn_detection": None}}}
BIG = {"output_tokens": 30_000, "output_token_details": {"audio_tokens": 30_000}}  # $1.92


@pytest.fixture
def services(tmp_path: Path) -> Services:
    config = compile_config(
        GatewayConfig.model_validate(CONFIG), {}, pricing=load_pricing(ROOT / "config/pricing.yaml")
    )
    return Services(config, make_engine(f"sqlite:///{tmp_path}/ledger.db"))


def session(services: Services, tenant: str = "voice") -> RealtimeSession:
    config = services.config
    caller = Caller(Principal(tenant, "svc", False, 0.0), config.tenants[tenant])
    model = config.models["gpt-realtime"]
    return RealtimeSession(
        services.pipeline.meter, config, caller, model, config.pricing.price_for("gpt-realtime")
    )


def start(s: RealtimeSession, **config: Any) -> Any:
    """``session.created`` as the upstream has it (the real API turns voice on by default),
    then the answer to the gateway's cap; returns the decision on the first."""
    decision = run(s.server_event(ev(type="session.created", session={"id": "sess_1", **config})))
    run(s.server_event(ev(type="session.updated", session=config)))
    return decision


def errors(decision: Any) -> list[str]:
    return [json.loads(e)["error"]["code"] for e in decision.to_client]


def test_a_voice_started_response_runs_on_the_bound_held_for_it(services: Services) -> None:
    s = session(services)
    assert start(s, **VAD).to_upstream == [], "the next response's bound is held"
    created = run(s.server_event(ev(type="response.created", response={"id": "resp_v"})))
    assert created.to_upstream == [], "not cancelled: it had its bound"
    assert created.to_client == []
    # It took the held bound rather than a new one: one more bound fits, not two.
    assert run(s.client_event(ev(type="response.create", event_id="a"))).forward is not None
    assert errors(run(s.client_event(ev(type="response.create", event_id="b")))) == [
        "budget_exceeded"
    ]


def test_the_held_bound_is_given_back_when_voice_stops_or_the_session_ends(
    services: Services,
) -> None:
    s = session(services)
    start(s, **VAD)
    second = run(s.client_event(ev(type="response.create", event_id="a")))
    third = run(s.client_event(ev(type="response.create", event_id="b")))
    assert second.forward is not None
    assert errors(third) == ["budget_exceeded"], "the held bound counts"
    run(s.server_event(ev(type="session.updated", session=NO_VAD)))
    assert run(s.client_event(ev(type="response.create", event_id="c"))).forward is not None
    s.close()
    assert len(ledger(services)) == 2, "the two creates, cut; nothing for the held bound"
    again = session(services)
    start(again)
    assert run(again.client_event(ev(type="response.create"))).forward is not None


def test_no_bound_for_the_next_voice_response_turns_voice_responses_off(
    services: Services,
) -> None:
    s = session(services)
    start(s, **VAD)
    run(s.server_event(ev(type="response.created", response={"id": "resp_v"})))  # by voice
    done = ev(type="response.done", response={"id": "resp_v", "status": "completed", "usage": BIG})
    decision = run(s.server_event(done))
    assert errors(decision) == ["budget_exceeded"], "$1.92 spent: no room for the next $1.088"
    [off] = [json.loads(e) for e in decision.to_upstream]
    assert off["type"] == "session.update"
    assert off["session"]["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "create_response": False,
    }
    turned_off = {"audio": {"input": {"turn_detection": {"type": "server_vad", **FALSE}}}}
    assert run(s.server_event(ev(type="session.updated", session=turned_off))).to_upstream == []
    back_on = run(s.client_event(ev(type="session.update", event_id="on", session=VAD)))
    assert back_on.forward is None, "voice responses need a bound held first"
    assert errors(back_on) == ["budget_exceeded"]
    [row] = ledger(services)
    assert row["cost_nanos"] == 30_000 * 64_000


def test_a_transcription_model_set_around_the_gateway_is_turned_off(services: Services) -> None:
    s = session(services, "rt-only")
    start(s)
    asr = {"audio": {"input": {"transcription": {"model": "whisper-1"}}}}  # a browser's update
    decision = run(s.server_event(ev(type="session.updated", session=asr)))
    assert errors(decision) == ["model_not_allowed"]
    [off] = [json.loads(e) for e in decision.to_upstream]
    assert off["session"]["audio"]["input"]["transcription"] is None


def test_a_transcript_is_billed_at_the_model_the_upstream_reports(services: Services) -> None:
    s = session(services)
    start(s, audio={"input": {"transcription": {"model": "whisper-1"}}})
    completed = ev(
        type="conversation.item.input_audio_transcription.completed",
        item_id="item_1",
        content_index=0,
        transcript="hi",
        usage={"type": "duration", "seconds": 2.2},
    )
    assert run(s.server_event(completed)).forward == completed
    [row] = ledger(services)
    assert (row["requested_model"], row["response_id"], row["session_id"]) == (
        "whisper-1",
        "item_1",
        "sess_1",
    )
    assert row["cost_nanos"] == 3 * 100_000  # 2.2 s, counted as 3 at $0.0001 a second


def test_a_binary_frame_is_an_event_only_if_it_is_utf8_json() -> None:
    event = json.dumps(
        {"type": "response.create", "response": {"instructions": "é"}}, ensure_ascii=False
    )
    assert binary_event(event.encode()) == event
    for raw in (b"\xff\xfe", b"[1, 2]", b'{"no": "type"}', b"{}", b"not json"):
        assert binary_event(raw) is None
