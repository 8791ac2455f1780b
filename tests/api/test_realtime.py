"""GET /v1/realtime through the official SDK: relayed, priced, budgeted, limited, timed out."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from harness import UPSTREAM_KEY, GatewayServer, config_dict, ledger_row, ledger_rows, metric_value
from poll import latest_sync
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from fake_openai import FakeOpenAIServer, Fault

TENANTS = {
    "rt": {"models": ["*"], "max_output_tokens": 1000},
    "rt-poor": {"models": ["*"], "max_output_tokens": 100, "budgets": {"daily_usd": 0.075}},
    "rt-one": {"models": ["*"], "limits": {"realtime_sessions": 1}},
    "rt-brief": {"models": ["*"], "realtime": {"max_session_s": 0.6, "idle_timeout_s": 30}},
    "rt-idle": {"models": ["*"], "realtime": {"max_session_s": 30, "idle_timeout_s": 0.4}},
    "rt-text-only": {"models": ["gpt-5-nano"]},
}
# gpt-realtime in config/pricing.yaml, nano-USD per token.
PRICE = {
    "text_in": 4_000,
    "cached_text_in": 400,
    "audio_in": 32_000,
    "cached_audio_in": 400,
    "image_in": 5_000,
    "text_out": 16_000,
    "audio_out": 64_000,
}
ONE_SECOND_OF_SILENCE = base64.b64encode(b"\0" * 48_000).decode()


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("rt") / "gateway.db"
    with GatewayServer(
        config_dict(fake_server.base_url, tenants=TENANTS), database_url=f"sqlite:///{db}"
    ) as g:
        yield g


def client(gw: GatewayServer, tenant: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


def expected_cost(usage: Any) -> int:
    """The price of a Realtime usage object, by hand: each kind at its own price."""
    details, cached = usage.input_token_details, usage.input_token_details.cached_tokens_details
    out = usage.output_token_details
    cost: int = (
        (details.text_tokens - cached.text_tokens) * PRICE["text_in"]
        + cached.text_tokens * PRICE["cached_text_in"]
        + (details.audio_tokens - cached.audio_tokens) * PRICE["audio_in"]
        + cached.audio_tokens * PRICE["cached_audio_in"]
        + (details.image_tokens - cached.image_tokens) * PRICE["image_in"]
        + cached.image_tokens * PRICE["cached_text_in"]
        + out.text_tokens * PRICE["text_out"]
        + out.audio_tokens * PRICE["audio_out"]
    )
    return cost


def tenant_rows(gw: GatewayServer, tenant: str, expected: int) -> list[dict[str, object]]:
    """The tenant's ledger rows, once the batched writer has written ``expected`` of them."""
    return latest_sync(
        lambda: [r for r in ledger_rows(gw.database_url) if r["tenant"] == tenant],
        lambda rows: len(rows) >= expected,
    )


async def until(conn: Any, *types: str) -> Any:
    async for event in conn:
        if event.type in types:
            return event
    raise AssertionError(f"the session ended before any of {types}")


async def say(conn: Any, text: str) -> None:
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )


def test_a_text_turn_is_relayed_and_priced_from_its_usage(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with client(gw, "rt").realtime.connect(model="gpt-realtime") as conn:
            created = await until(conn, "session.created")
            await say(conn, "hello there gateway")
            await conn.response.create(response={"output_modalities": ["text"]})
            done = await until(conn, "response.done")
            return created, done

    created, done = asyncio.run(asyncio.wait_for(scenario(), 20))
    usage = done.response.usage
    assert usage.output_token_details.text_tokens > 0
    row = ledger_row(gw.database_url, response_id=done.response.id)
    assert row["cost_nanos"] == expected_cost(usage)
    assert row["session_id"] == created.session.id
    assert (row["tenant"], row["endpoint"], row["requested_model"]) == (
        "rt",
        "realtime",
        "gpt-realtime",
    )
    assert not row["estimated"]
    connect = [r for r in fake.requests if r.path == "/v1/realtime"][-1]
    assert connect.headers["authorization"] == f"Bearer {UPSTREAM_KEY}", "the gateway's own key"


def test_an_audio_turn_prices_audio_and_cached_tokens_at_their_own_prices(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> list[Any]:
        dones = []
        async with client(gw, "rt").realtime.connect(model="gpt-realtime") as conn:
            for _ in range(2):  # the second turn re-reads the first: cached audio and text
                await conn.input_audio_buffer.append(audio=ONE_SECOND_OF_SILENCE)
                await conn.input_audio_buffer.commit()
                await conn.response.create(response={"output_modalities": ["audio"]})
                dones.append(await until(conn, "response.done"))
        return dones

    first, second = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert first.response.usage.input_token_details.audio_tokens == 10
    assert first.response.usage.output_token_details.audio_tokens > 0
    cached = second.response.usage.input_token_details.cached_tokens_details
    assert cached.audio_tokens > 0
    for done in (first, second):
        row = ledger_row(gw.database_url, response_id=done.response.id)
        assert row["cost_nanos"] == expected_cost(done.response.usage)
        assert row["audio_output_tokens"] == done.response.usage.output_token_details.audio_tokens


def test_the_session_is_capped_and_a_larger_ask_is_clamped(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> list[str]:
        types = []
        async with client(gw, "rt").realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "max_output_tokens": "inf"})
            types.append((await until(conn, "session.updated")).type)
            await say(conn, "hi")
            await conn.response.create(response={"max_output_tokens": 5000})
            await until(conn, "response.done")
        return types

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == ["session.updated"], (
        "the gateway's own update is not shown"
    )
    sent = [e for _, e in fake.realtime_events]
    updates = [e for e in sent if e["type"] == "session.update"]
    assert updates[0]["session"]["max_output_tokens"] == 1000, "capped before the client speaks"
    assert updates[1]["session"]["max_output_tokens"] == 1000, "'inf' clamped"
    [create] = [e for e in sent if e["type"] == "response.create"]
    assert create["response"]["max_output_tokens"] == 1000


def test_a_session_that_runs_out_of_budget_is_told_and_stays_usable(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[int, Any, Any]:
        completed = 0
        async with client(gw, "rt-poor").realtime.connect(model="gpt-realtime") as conn:
            while True:
                await say(conn, "a long question " * 20)
                await conn.response.create()
                event = await until(conn, "response.done", "error")
                if event.type == "error":
                    refusal = event
                    break
                completed += 1
                assert completed < 50, "the budget never ran out"
            await say(conn, "still there?")  # cheaper work goes on
            added = await until(conn, "conversation.item.done")
            return completed, refusal, added

    completed, refusal, added = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert completed >= 1
    assert refusal.error.code == "budget_exceeded"
    assert added.item.role == "user"
    rows = tenant_rows(gw, "rt-poor", completed)
    assert len(rows) == completed
    assert sum(int(r["cost_nanos"]) for r in rows) <= 75_000_000  # type: ignore[call-overload]


def test_a_second_session_over_the_limit_is_refused(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> None:
        async with client(gw, "rt-one").realtime.connect(model="gpt-realtime") as conn:
            await until(conn, "session.created")
            with pytest.raises(InvalidStatus) as refused:
                async with client(gw, "rt-one").realtime.connect(model="gpt-realtime") as second:
                    await second.recv()
            assert refused.value.response.status_code == 429
            assert b"session_limit_exceeded" in refused.value.response.body
        async with client(gw, "rt-one").realtime.connect(model="gpt-realtime") as again:
            await until(again, "session.created")  # the first one's slot came back

    asyncio.run(asyncio.wait_for(scenario(), 20))


@pytest.mark.parametrize(
    ("tenant", "code", "reason"),
    [
        ("rt-brief", "session_expired", "max_duration"),
        ("rt-idle", "session_idle_timeout", "idle_timeout"),
    ],
)
def test_sessions_are_closed_with_an_error_event_at_their_time_limits(
    gw: GatewayServer, fake: FakeOpenAIServer, tenant: str, code: str, reason: str
) -> None:
    async def scenario() -> Any:
        async with client(gw, tenant).realtime.connect(model="gpt-realtime") as conn:
            await until(conn, "session.created")
            return await until(conn, "error")  # whichever limit comes first (0.4 s or 0.6 s)

    error = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert error.error.code == code
    assert (
        metric_value(gw, "gateway_realtime_sessions_ended_total", tenant=tenant, reason=reason) == 1
    )


def test_refusals_happen_before_the_upgrade_in_openai_shape(gw: GatewayServer) -> None:
    async def connect(api_key: str, model: str) -> tuple[int, dict[str, Any]]:
        sdk = openai.AsyncOpenAI(base_url=gw.base_url, api_key=api_key, max_retries=0)
        with pytest.raises(InvalidStatus) as refused:
            async with sdk.realtime.connect(model=model) as conn:
                await conn.recv()
        response = refused.value.response
        return response.status_code, json.loads(response.body)["error"]

    status, error = asyncio.run(connect("not-a-token", "gpt-realtime"))
    assert (status, error["type"]) == (401, "invalid_request_error")
    status, error = asyncio.run(connect(gw.token("rt-text-only"), "gpt-realtime"))
    assert (status, error["code"]) == (403, "model_not_allowed")
    status, error = asyncio.run(connect(gw.token("rt"), "no-such-model"))
    assert (status, error["code"]) == (404, "model_not_found")


def test_a_client_that_vanishes_mid_response_still_leaves_a_ledger_row(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> str:
        sdk = client(gw, "rt")
        conn = await sdk.realtime.connect(model="gpt-realtime").enter()
        created = await until(conn, "session.created")
        fake.inject(Fault(path="/v1/realtime", stall_after_events=6))  # mid-answer, for good
        await say(conn, "one two three four five six seven eight nine ten")
        await conn.response.create(response={"output_modalities": ["text"]})
        await until(conn, "response.output_text.delta")
        conn._connection.transport.abort()  # no close frame: the TCP connection just ends
        return str(created.session.id)

    session_id = asyncio.run(asyncio.wait_for(scenario(), 20))
    row = ledger_row(gw.database_url, session_id=session_id)
    assert (row["estimated"], row["outcome"]) == (True, "cut")
    assert int(row["output_tokens"]) >= 1  # type: ignore[call-overload]


def test_an_upstream_that_drops_the_socket_is_metered_and_the_client_told(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> str:
        async with client(gw, "rt").realtime.connect(model="gpt-realtime") as conn:
            created = await until(conn, "session.created")
            fake.inject(Fault(path="/v1/realtime", drop_after_events=4))
            await say(conn, "one two three four five six seven eight")
            await conn.response.create(response={"output_modalities": ["text"]})
            with pytest.raises(ConnectionClosedError) as closed:
                await until(conn, "response.done")
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1011
            return str(created.session.id)

    session_id = asyncio.run(asyncio.wait_for(scenario(), 20))
    row = ledger_row(gw.database_url, session_id=session_id)
    assert row["estimated"]
    assert row["outcome"] == "cut"
