"""Browser flows: gateway-issued client secrets, and WebRTC calls metered over the sideband."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
import websockets
from harness import UPSTREAM_KEY, GatewayServer, config_dict, ledger_rows
from poll import eventually_sync, latest_sync, within_sync
from websockets.exceptions import InvalidStatus

from fake_openai import FakeOpenAIServer, Fault

TENANTS = {
    "web": {"models": ["*"], "max_output_tokens": 800},
    "other": {"models": ["*"]},
    "once": {"models": ["*"], "realtime": {"single_use_secrets": True}},
    "broke": {"models": ["*"], "budgets": {"daily_usd": 0.01}},
    "calls-one": {"models": ["*"], "limits": {"realtime_sessions": 1}},
}
SDP_OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("rtweb") / "gateway.db"
    with GatewayServer(
        config_dict(fake_server.base_url, tenants=TENANTS), database_url=f"sqlite:///{db}"
    ) as g:
        yield g


def mint(gw: GatewayServer, tenant: str, **session: Any) -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}/realtime/client_secrets",
        headers={"authorization": f"Bearer {gw.token(tenant)}"},
        json={
            "expires_after": {"anchor": "created_at", "seconds": 600},
            "session": {"type": "realtime", "model": "gpt-realtime", **session},
        },
    )


def rows_where(gw: GatewayServer, match: Callable[[dict[str, Any]], bool], n: int) -> list[Any]:
    return latest_sync(
        lambda: [r for r in ledger_rows(gw.database_url) if match(r)], lambda rows: len(rows) >= n
    )


async def open_session(gw: GatewayServer, key: str) -> int:
    """101 when a Realtime session opens with ``key``, else the refusal's status."""
    sdk = openai.AsyncOpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    try:
        async with sdk.realtime.connect(model="gpt-realtime") as conn:
            await conn.recv()
    except InvalidStatus as refused:
        return refused.response.status_code
    return 101


async def text_turn(conn: Any, text: str) -> Any:
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    await conn.response.create(response={"output_modalities": ["text"]})
    async for event in conn:
        if event.type == "response.done":
            return event
    raise AssertionError("no response.done")


def test_a_minted_secret_is_the_gateways_own_and_the_session_config_is_capped(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    resp = mint(gw, "web", max_output_tokens="inf", instructions="be brief")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["value"].startswith("ek_gw_")
    assert body["session"]["model"] == "gpt-realtime"
    [upstream] = [r for r in fake.requests if r.path == "/v1/realtime/client_secrets"]
    assert upstream.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert upstream.json()["session"]["max_output_tokens"] == 800, "the tenant's cap"
    assert "ek_" not in resp.text.replace(body["value"], ""), "the upstream's key stays inside"


def test_a_session_opened_with_a_secret_is_billed_to_the_tenant_that_minted_it(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    secret = mint(gw, "web", instructions="be brief").json()["value"]

    async def scenario() -> Any:
        browser = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
        async with browser.realtime.connect(model="gpt-realtime") as conn:
            return await text_turn(conn, "hello from a browser")

    done = asyncio.run(asyncio.wait_for(scenario(), 20))
    [row] = rows_where(gw, lambda r: r["response_id"] == done.response.id, 1)
    assert row["tenant"] == "web"
    assert not rows_where(gw, lambda r: r["tenant"] == "other", 0)
    updates = [e for _, e in fake.realtime_events if e["type"] == "session.update"]
    assert updates[-1]["session"]["instructions"] == "be brief", "the minted config applies"


def test_browsers_pass_the_secret_as_a_subprotocol_and_get_realtime_echoed(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    secret = mint(gw, "web").json()["value"]

    async def scenario() -> tuple[str | None, str]:
        url = gw.base_url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            first = json.loads(await ws.recv())
            return ws.subprotocol, first["type"]

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == ("realtime", "session.created")


def test_unknown_and_spent_secrets_are_refused(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    secret = mint(gw, "once").json()["value"]
    assert asyncio.run(open_session(gw, secret)) == 101
    assert asyncio.run(open_session(gw, secret)) == 401, "single use"
    assert asyncio.run(open_session(gw, "ek_gw_forged")) == 401
    minted_by_jwt_only = httpx.post(
        f"{gw.base_url}/realtime/client_secrets",
        headers={"authorization": f"Bearer {mint(gw, 'web').json()['value']}"},
        json={"session": {"type": "realtime", "model": "gpt-realtime"}},
    )
    assert minted_by_jwt_only.status_code == 401, "a secret cannot mint another"


def call(gw: GatewayServer, credential: str, *, multipart: bool = True) -> httpx.Response:
    headers = {"authorization": f"Bearer {credential}"}
    if multipart:
        session = {"type": "realtime", "model": "gpt-realtime"}
        files = {
            "sdp": (None, SDP_OFFER, "application/sdp"),
            "session": (None, json.dumps(session), "application/json"),
        }
        return httpx.post(f"{gw.base_url}/realtime/calls", headers=headers, files=files)
    headers["content-type"] = "application/sdp"
    return httpx.post(f"{gw.base_url}/realtime/calls", headers=headers, content=SDP_OFFER)


def sideband_open(fake: FakeOpenAIServer, call_id: str) -> None:
    eventually_sync(
        lambda: any(r.query.get("call_id") == call_id for r in fake.requests),
        interval=0.02,
        what="the gateway to open the sideband",
    )
    # Its session.update (the output cap) has been applied: one call per test, so the only one.
    eventually_sync(
        lambda: any(e.get("type") == "session.update" for _, e in fake.realtime_events),
        interval=0.02,
        what="the sideband's session.update",
    )


def test_a_webrtc_call_is_answered_and_both_of_its_responses_are_metered(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    resp = call(gw, gw.token("web"))
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith("application/sdp")
    assert resp.text.startswith("v=0")
    call_id = resp.headers["location"].rsplit("/", 1)[-1]
    assert call_id.startswith("rtc_")
    [upstream] = [r for r in fake.requests if r.path == "/v1/realtime/calls"]
    assert upstream.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    sideband_open(fake, call_id)
    first = fake.call_respond(call_id, "what is the weather")
    rows_where(gw, lambda r: r["response_id"] == first, 1)
    second = fake.call_respond(call_id, "and tomorrow")
    rows = rows_where(gw, lambda r: r["response_id"] in (first, second), 2)
    assert {r["tenant"] for r in rows} == {"web"}
    assert all(r["cost_nanos"] > 0 and not r["estimated"] for r in rows)
    assert all(r["audio_input_tokens"] + r["cached_audio_input_tokens"] > 0 for r in rows)


def test_a_call_made_with_a_client_secret_and_a_raw_sdp_offer_is_billed_to_its_tenant(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    secret = mint(gw, "web").json()["value"]
    resp = call(gw, secret, multipart=False)
    assert resp.status_code == 201, resp.text
    call_id = resp.headers["location"].rsplit("/", 1)[-1]
    sideband_open(fake, call_id)
    rid = fake.call_respond(call_id, "hello")
    [row] = rows_where(gw, lambda r: r["response_id"] == rid, 1)
    assert row["tenant"] == "web"


def test_a_call_whose_tenant_runs_out_of_budget_is_hung_up(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    resp = call(gw, gw.token("broke"))  # $0.01 a day: no response's bound fits
    assert resp.status_code == 201, resp.text
    call_id = resp.headers["location"].rsplit("/", 1)[-1]
    sideband_open(fake, call_id)
    rid = fake.call_respond(call_id, "spend it all")
    eventually_sync(lambda: call_id in fake.hung_up, interval=0.02, what="the call hung up")
    [row] = rows_where(gw, lambda r: r["response_id"] == rid, 1)  # what ran is still billed
    assert row["tenant"] == "broke"


def hung_up(fake: FakeOpenAIServer, call_id: str) -> bool:
    return within_sync(lambda: call_id in fake.hung_up, interval=0.02)


def test_a_call_the_gateway_cannot_watch_is_hung_up_and_refused(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/realtime", status=503))  # the sideband upgrade fails
    resp = call(gw, gw.token("web"))
    assert resp.status_code == 502, resp.text
    assert len([r for r in fake.requests if r.path == "/v1/realtime/calls"]) == 1
    assert len(fake.hung_up) == 1, "the call that was created upstream is ended"


def test_a_call_whose_sideband_drops_is_hung_up(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    resp = call(gw, gw.token("web"))
    call_id = resp.headers["location"].rsplit("/", 1)[-1]
    sideband_open(fake, call_id)
    fake.inject(Fault(path="/v1/realtime", drop_after_events=3))
    fake.call_respond(call_id, "this answer never finishes")
    assert hung_up(fake, call_id), "unmetered from here on: the gateway ends it"


def test_calls_count_against_the_session_limit(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    first = call(gw, gw.token("calls-one"))
    assert first.status_code == 201
    second = call(gw, gw.token("calls-one"))
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "session_limit_exceeded"


def test_with_redis_a_secret_minted_on_one_replica_opens_a_session_on_another(
    fake_server: FakeOpenAIServer, redis: Any, tmp_path: Any
) -> None:
    config = config_dict(fake_server.base_url, tenants=TENANTS)
    db = f"sqlite:///{tmp_path / 'gateway.db'}"
    with (
        GatewayServer(config, database_url=db, redis_url=redis.url) as one,
        GatewayServer(config, database_url=db, redis_url=redis.url) as two,
    ):
        secret = mint(one, "once").json()["value"]
        assert asyncio.run(open_session(two, secret)) == 101, "any replica knows it"
        assert asyncio.run(open_session(one, secret)) == 401, "spent once, spent everywhere"
        assert redis_secrets(redis.port) == {}, "spent: gone from Redis"
        kept = mint(one, "web").json()["value"]
        [(key, value)] = redis_secrets(redis.port).items()
        assert kept.encode() not in key + value, "Redis holds its hash, never the secret"


def redis_secrets(port: int) -> dict[bytes, bytes]:
    import redis as redis_client

    client = redis_client.Redis(port=port)
    try:
        secrets: dict[bytes, bytes] = {}
        for key in client.scan_iter("gw:secret*"):
            value = client.get(key) or b""
            assert isinstance(key, bytes)
            assert isinstance(value, bytes)
            secrets[key] = value
        return secrets
    finally:
        client.close()
