"""GET /v1/responses (WebSocket mode) through the SDK: each response.create is a metered call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import websockets
from harness import GatewayServer, config_dict, ledger_row, metric_value
from websockets.exceptions import InvalidStatus

from fake_openai import FakeOpenAIServer, Fault

TENANTS = {
    "ws": {"models": ["*"], "max_output_tokens": 300},
    "ws-other": {"models": ["*"]},
    "ws-broke": {"models": ["*"], "budgets": {"daily_usd": 0.0001}},
    "ws-tagged": {"models": ["*"], "tags": {"keys": ["feature"], "from_metadata": True}},
    "ws-guarded": {"models": ["*"], "moderation": {"categories": ["violence"]}},
}


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("rws") / "gateway.db"
    with GatewayServer(
        config_dict(fake_server.base_url, tenants=TENANTS), database_url=f"sqlite:///{db}"
    ) as g:
        yield g


def sdk(gw: GatewayServer, tenant: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


async def finish(conn: Any) -> Any:
    """The next terminal or error event on the socket."""
    async for event in conn:
        if event.type in ("response.completed", "response.incomplete", "response.failed", "error"):
            return event
    raise AssertionError("the socket closed first")


def test_two_responses_one_chained_are_both_metered(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with sdk(gw, "ws").responses.connect() as conn:
            await conn.response.create(model="gpt-5-nano", input="first question")
            first = await finish(conn)
            await conn.response.create(
                model="gpt-5-nano", input="and then?", previous_response_id=first.response.id
            )
            return first, await finish(conn)

    first, second = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert (first.type, second.type) == ("response.completed", "response.completed")
    for event in (first, second):
        row = ledger_row(gw.database_url, response_id=event.response.id)
        assert (row["tenant"], row["endpoint"]) == ("ws", "responses.websocket")
        assert row["output_tokens"] == event.response.usage.output_tokens
        assert int(row["cost_nanos"]) > 0  # type: ignore[call-overload]
    sent = [e for _, e in fake.responses_ws_events if e.get("type") == "response.create"]
    assert [e["max_output_tokens"] for e in sent] == [300, 300], "the tenant's cap, set"


def test_a_chain_to_another_tenants_response_is_refused_and_the_socket_stays_open(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with sdk(gw, "ws").responses.connect() as conn:
            await conn.response.create(model="gpt-5-nano", input="mine")
            mine = await finish(conn)
        async with sdk(gw, "ws-other").responses.connect() as conn:
            await conn.response.create(
                model="gpt-5-nano", input="theirs?", previous_response_id=mine.response.id
            )
            refused = await finish(conn)
            await conn.response.create(model="gpt-5-nano", input="fresh start")
            return refused, await finish(conn)

    refused, fresh = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert refused.type == "error"
    assert refused.error.code == "previous_response_not_found"
    assert fresh.type == "response.completed"
    forwarded = [e for _, e in fake.responses_ws_events if e.get("input") == "theirs?"]
    assert forwarded == [], "a refused create never reaches the upstream"


def test_other_events_are_refused_at_the_gateway_and_calls_stay_metered(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with sdk(gw, "ws").responses.connect() as conn:
            await conn.send({"type": "bogus"})  # type: ignore[arg-type]
            refused = await finish(conn)
            await conn.response.create(model="gpt-5-nano", input="after the bogus one")
            return refused, await finish(conn)

    refused, done = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert (refused.type, refused.error.code) == ("error", "unknown_event")
    assert [e["type"] for _, e in fake.responses_ws_events] == ["response.create"]
    row = ledger_row(gw.database_url, response_id=done.response.id)
    assert int(row["cost_nanos"]) > 0  # type: ignore[call-overload]


def test_a_create_over_budget_gets_a_budget_error_event(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> Any:
        async with sdk(gw, "ws-broke").responses.connect() as conn:
            await conn.response.create(model="gpt-5-nano", input="too dear")
            return await finish(conn)

    refused = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert refused.type == "error"
    assert refused.error.code == "budget_exceeded"
    assert refused.status == 429


def test_a_socket_that_vanishes_mid_response_leaves_an_estimated_row(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> str:
        conn = await sdk(gw, "ws").responses.connect().enter()
        fake.inject(Fault(path="/v1/responses", stall_after_events=8))  # after a few deltas
        await conn.response.create(model="gpt-5-nano", input="tell me a long story please")
        rid = ""
        async for event in conn:
            if event.type == "response.created":
                rid = event.response.id
            if event.type == "response.output_text.delta":
                break
        conn._connection.transport.abort()  # no close frame
        return rid

    rid = asyncio.run(asyncio.wait_for(scenario(), 10))
    row = ledger_row(gw.database_url, response_id=rid)
    assert (row["outcome"], row["estimated"]) == ("cut", True)


@pytest.mark.parametrize(
    ("upstream", "status", "code"),
    [
        (426, 426, "websocket_mode_not_supported"),
        (404, 426, "websocket_mode_not_supported"),
        (403, 426, "websocket_mode_not_supported"),
        (401, 502, "upstream_auth_failed"),
    ],
)
def test_an_upstream_refusing_the_mode_makes_clients_fall_back_at_once(
    upstream: int, status: int, code: str, gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/responses", status=upstream))

    async def connect() -> tuple[int, dict[str, Any]]:
        url = gw.base_url.replace("http://", "ws://") + "/responses"
        headers = {"Authorization": f"Bearer {gw.token('ws')}"}
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, additional_headers=headers):
                pass
        response = refused.value.response
        return response.status_code, json.loads(response.body)["error"]

    got, error = asyncio.run(asyncio.wait_for(connect(), 10))
    assert (got, error["code"]) == (status, code)
    assert "credentials" not in error["message"] or upstream == 401


def test_a_warm_up_is_bounded_and_metered_as_what_it_is_no_output(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> Any:
        async with sdk(gw, "ws-broke").responses.connect() as conn:
            # Codex's warm-up: the input is read and cached, nothing is generated.
            await conn.send(
                {"type": "response.create", "model": "gpt-5-nano", "input": "hi", "generate": False}
            )
            return await finish(conn)

    done = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert done.type == "response.completed", (
        "its bound is its input: it fits where a reply would not"
    )
    assert done.response.output == []
    row = ledger_row(gw.database_url, response_id=done.response.id)
    input_tokens = int(row["input_tokens"])  # type: ignore[call-overload]
    assert (row["output_tokens"], input_tokens > 0) == (0, True)
    assert row["cost_nanos"] == input_tokens * 50


def test_a_response_create_is_tagged_by_its_metadata(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> Any:
        async with sdk(gw, "ws-tagged").responses.connect() as conn:
            await conn.response.create(
                model="gpt-5-nano", input="hi", metadata={"feature": "agent", "other": "x"}
            )
            return await finish(conn)

    done = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert done.type == "response.completed"
    assert ledger_row(gw.database_url, response_id=done.response.id)["tags"] == "feature=agent"


def test_moderation_checks_each_create_and_a_flagged_one_is_an_error_event(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with sdk(gw, "ws-guarded").responses.connect() as conn:
            await conn.response.create(model="gpt-5-nano", input="I will kill the process")
            flagged = await finish(conn)
            await conn.response.create(model="gpt-5-nano", input="hello")
            return flagged, await finish(conn)

    flagged, fine = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert (flagged.type, flagged.error.code) == ("error", "content_flagged")
    assert fine.type == "response.completed", "the socket stays open"
    creates = [e for _, e in fake.responses_ws_events if e.get("type") == "response.create"]
    assert [e["input"] for e in creates] == ["hello"], "the flagged one never went upstream"
    assert [r.path for r in fake.requests if r.path == "/v1/moderations"] == [
        "/v1/moderations"] * 2  # fmt: skip
    assert metric_value(gw, "gateway_moderation_checks_total", tenant="ws-guarded",
                        result="flagged") == 1  # fmt: skip


def test_function_calls_on_the_socket_are_counted_by_name(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(function_call=("get_weather", '{"city": "Oslo"}')))

    async def scenario() -> Any:
        async with sdk(gw, "ws-other").responses.connect() as conn:
            tool: Any = {"type": "function", "name": "get_weather", "parameters": {}}
            await conn.response.create(model="gpt-5-nano", input="weather?", tools=[tool])
            return await finish(conn)

    before = metric_value(gw, "gateway_tool_calls_total", tenant="ws-other", tool="get_weather")
    done = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert done.type == "response.completed"
    after = metric_value(gw, "gateway_tool_calls_total", tenant="ws-other", tool="get_weather")
    assert after - before == 1
