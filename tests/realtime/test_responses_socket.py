"""ResponsesSocketSession: lanes, steering and settlement of the Responses WebSocket mode.

Frames are fed straight to the session (no sockets): what it forwards, what
it reserves and what it writes to the ledger is the specification.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway.auth import Principal
from gateway.auth.callers import Caller
from gateway.config import compile_config, parse_config
from gateway.db import make_engine
from gateway.pricing.table import load_pricing
from gateway.realtime.responses_socket import ResponsesSocketSession
from gateway.services import Services

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
models: {gpt-5-nano: {}, gpt-5-mini: {}}
tenants:
  team: {models: ["*"], max_output_tokens: 100, budgets: {daily_usd: 10}}
"""
USAGE = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}


@pytest.fixture
def services(tmp_path: Path) -> Services:
    pricing = load_pricing(ROOT / "config/pricing.yaml")
    config = compile_config(parse_config(CONFIG), {}, pricing=pricing)
    return Services(config, make_engine(f"sqlite:///{tmp_path}/ledger.db"))


def socket(services: Services) -> ResponsesSocketSession:
    config = services.config
    caller = Caller(Principal("team", "svc", False, 0.0), config.tenants["team"])
    return ResponsesSocketSession(services.pipeline, config, caller, next(iter(config.upstreams)))


def ev(**fields: Any) -> str:
    return json.dumps(fields)


def client(s: ResponsesSocketSession, **fields: Any) -> Any:
    return asyncio.run(s.on_client(ev(**fields)))


def server(s: ResponsesSocketSession, **fields: Any) -> Any:
    return asyncio.run(s.server_event(ev(**fields)))


def created(s: ResponsesSocketSession, rid: str, lane: str | None = None) -> None:
    extra = {"stream_id": lane} if lane else {}
    server(s, type="response.created", response={"id": rid, "status": "in_progress"}, **extra)


def completed(s: ResponsesSocketSession, rid: str, model: str, lane: str | None = None) -> None:
    extra = {"stream_id": lane} if lane else {}
    response = {"id": rid, "status": "completed", "model": model, "usage": USAGE}
    server(s, type="response.completed", response=response, **extra)


def ledger(services: Services) -> list[dict[str, Any]]:
    asyncio.run(services.ledger.flush())
    with services.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM ledger ORDER BY id"))
        return [dict(r._mapping) for r in rows]


def nothing_left_reserved(services: Services) -> bool:
    """The budget holds exactly what the ledger charged: every reservation was settled."""
    [day] = services.quota.status("team", services.config.tenants["team"], time.time())
    return day.limit_nanos - day.remaining_nanos == sum(
        int(r["cost_nanos"]) for r in ledger(services)
    )


def test_lanes_run_fifo_and_each_created_goes_to_its_own_lanes_oldest_create(
    services: Services,
) -> None:
    s = socket(services)
    for lane, model in (("a", "gpt-5-nano"), ("b", "gpt-5-mini"), ("a", "gpt-5-mini")):
        out = client(s, type="response.create", model=model, input="hi", stream_id=lane)
        assert out.to_client == []
        assert json.loads(out.forward)["max_output_tokens"] == 100
    created(s, "resp_b1", "b")
    created(s, "resp_a1", "a")
    created(s, "resp_a2", "a")
    completed(s, "resp_a2", "gpt-5-mini", "a")
    completed(s, "resp_b1", "gpt-5-mini", "b")
    completed(s, "resp_a1", "gpt-5-nano", "a")
    rows = {r["response_id"]: r for r in ledger(services)}
    assert {rid: r["requested_model"] for rid, r in rows.items()} == {
        "resp_a1": "gpt-5-nano",
        "resp_b1": "gpt-5-mini",
        "resp_a2": "gpt-5-mini",
    }
    assert all(
        r["endpoint"] == "responses.websocket" and r["cost_nanos"] > 0 for r in rows.values()
    )


def test_a_steer_reserves_its_successor_like_the_response_it_names(services: Services) -> None:
    s = socket(services)
    client(s, type="response.create", model="gpt-5-mini", input="long task", stream_id="a")
    created(s, "resp_a1", "a")
    client(s, type="response.create", model="gpt-5-nano", input="other", stream_id="b")
    created(s, "resp_b1", "b")
    completed(s, "resp_b1", "gpt-5-nano", "b")
    # Lane a is reassigned after lane b was first seen: the steer still finds resp_a1.
    out = client(s, type="response.steer", previous_response_id="resp_a1", input="faster")
    assert out.forward is not None
    assert out.to_client == []
    server(s, type="response.incomplete", stream_id="a",
           response={"id": "resp_a1", "status": "incomplete", "usage": USAGE})  # fmt: skip
    created(s, "resp_a2", "a")  # the successor the server started for the steer
    completed(s, "resp_a2", "gpt-5-mini", "a")
    rows = {r["response_id"]: r for r in ledger(services)}
    assert rows["resp_a2"]["requested_model"] == "gpt-5-mini", "billed like the steered response"
    assert rows["resp_a1"]["outcome"] == "incomplete"
    assert nothing_left_reserved(services)


def test_a_steer_naming_no_response_of_this_socket_is_refused(services: Services) -> None:
    s = socket(services)
    out = client(s, type="response.steer", previous_response_id="resp_elsewhere", input="x")
    assert out.forward is None
    [error] = [json.loads(e) for e in out.to_client]
    assert (error["error"]["code"], error["status"]) == ("response_not_found", 400)
    assert nothing_left_reserved(services)


def test_steers_that_started_nothing_are_released_without_a_row(services: Services) -> None:
    s = socket(services)
    client(s, type="response.create", model="gpt-5-nano", input="hi")
    created(s, "resp_1")
    client(s, type="response.steer", previous_response_id="resp_1", input="more")
    completed(s, "resp_1", "gpt-5-nano")
    s.close()
    assert [r["response_id"] for r in ledger(services)] == ["resp_1"]
    assert nothing_left_reserved(services)


def test_an_upstream_error_settles_the_lanes_oldest_create_as_failed(services: Services) -> None:
    s = socket(services)
    client(s, type="response.create", model="gpt-5-nano", input="hi", stream_id="a")
    server(s, type="error", stream_id="a", status=400,
           error={"type": "invalid_request_error", "code": "x", "message": "no", "param": None})  # fmt: skip
    [row] = ledger(services)
    assert (row["outcome"], row["status"], row["cost_nanos"]) == ("failed", 400, 0)


def test_calls_open_when_the_socket_ends_are_estimated(services: Services) -> None:
    s = socket(services)
    client(s, type="response.create", model="gpt-5-nano", input="hi")
    created(s, "resp_1")
    for _ in range(7):
        asyncio.run(s.server_event('{"type":"response.output_text.delta","delta":"x"}'))
    client(s, type="response.create", model="gpt-5-nano", input="queued")
    s.close()
    rows = ledger(services)
    assert [(r["outcome"], r["estimated"]) for r in rows] == [("cut", True), ("cut", True)]
    assert rows[0]["output_tokens"] == 7
    assert rows[1]["output_tokens"] == 0
    assert nothing_left_reserved(services)
