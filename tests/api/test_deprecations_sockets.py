"""Deprecated models on the Realtime API and the Responses WebSocket mode, through the SDK.

Realtime names its model once, when the session opens: the handshake's answer (HTTP 101),
a client secret's and a WebRTC call's carry the Deprecation/Sunset/Link headers the HTTP
endpoints send, and a rewritten model's secret still opens a session named by the old
model, and its ``session.update`` may name the old model too. The Responses socket names
a model per ``response.create``: rewritten or refused
(the socket's ``error`` event, in OpenAI's shape) as over HTTP, and every one counted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from day import pinned_day
from harness import GatewayServer, config_dict, merged, metric_value
from websockets.exceptions import InvalidStatus

from fake_openai import FakeOpenAIServer

LINK = "https://example.com/deprecations"
DEPRECATIONS = {
    "gpt-4o-realtime-preview": {  # warns
        "sunset": "2027-03-01", "announced": "2026-09-01", "replacement": "gpt-realtime",
        "link": LINK,
    },
    "gpt-4o-mini-realtime-preview": {
        "sunset": "2026-07-23", "replacement": "gpt-realtime-mini", "action": "rewrite",
    },
    "gpt-5-mini": {"sunset": "2027-03-01"},  # warns
    "small": {"sunset": "2026-10-23", "replacement": "gpt-5-nano", "action": "rewrite"},
    "gpt-4.1": {"sunset": "2026-10-23", "replacement": "gpt-5-mini", "action": "refuse"},
    "old-voice": {"sunset": "2026-10-23", "replacement": "gpt-realtime", "action": "refuse"},
}  # fmt: skip
SESSION_MODELS = {"context_window": 2000}  # a session's reservation stays small
MODELS = {
    "gpt-4o-realtime-preview": SESSION_MODELS,
    "gpt-4o-mini-realtime-preview": SESSION_MODELS,
    "gpt-realtime-mini": SESSION_MODELS,
    "old-voice": {"upstream_model": "gpt-realtime", **SESSION_MODELS},
}
TENANTS = {"old-rt": {"models": ["*"], "max_output_tokens": 1000}}
SDP_OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("dep-sockets") / "gateway.db"
    config = merged(
        config_dict(fake_server.base_url, tenants=TENANTS),
        {"models": MODELS, "deprecations": DEPRECATIONS},
    )
    with pinned_day(dt.date(2026, 12, 5)), GatewayServer(config, database_url=f"sqlite:///{db}") as g:  # fmt: skip
        yield g


def sdk(gw: GatewayServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token("old-rt"), max_retries=0)


def calls(gw: GatewayServer, model: str, action: str) -> float:
    return metric_value(
        gw, "gateway_deprecated_model_calls_total",
        tenant="old-rt", service="_none", model=model, action=action,
    )  # fmt: skip


async def handshake(client: openai.AsyncOpenAI, model: str) -> dict[str, str]:
    """The headers of the answer that opened a Realtime session (HTTP 101)."""
    async with client.realtime.connect(model=model) as conn:
        response = conn._connection.response
        assert response is not None
        assert response.status_code == 101
        await conn.recv()  # session.created: the session is up
        return {k.lower(): v for k, v in response.headers.raw_items()}


def test_a_realtime_sessions_handshake_carries_the_deprecation_headers(gw: GatewayServer) -> None:
    before = calls(gw, "gpt-4o-realtime-preview", "warn")
    headers = asyncio.run(asyncio.wait_for(handshake(sdk(gw), "gpt-4o-realtime-preview"), 20))
    assert headers["deprecation"] == f"@{int(dt.datetime(2026, 9, 1, tzinfo=dt.UTC).timestamp())}"
    assert headers["sunset"] == "Mon, 01 Mar 2027 00:00:00 GMT"
    assert (
        headers["link"] == f'<{LINK}>; rel="deprecation"; type="text/html", <{LINK}>; rel="sunset"'
    )
    assert "x-gateway-rewritten-from" not in headers
    assert calls(gw, "gpt-4o-realtime-preview", "warn") == before + 1
    plain = asyncio.run(asyncio.wait_for(handshake(sdk(gw), "gpt-realtime"), 20))
    assert not {"deprecation", "sunset", "link"} & plain.keys()


def test_a_refused_realtime_model_is_refused_before_the_upgrade_with_the_headers(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = calls(gw, "old-voice", "refuse")
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(asyncio.wait_for(handshake(sdk(gw), "old-voice"), 20))
    response = refused.value.response
    assert response.status_code == 404
    assert json.loads(response.body)["error"]["code"] == "model_not_found"
    assert "`gpt-realtime`" in json.loads(response.body)["error"]["message"]
    assert response.headers["sunset"] == "Fri, 23 Oct 2026 00:00:00 GMT"
    assert not [r for r in fake.requests if r.path == "/v1/realtime"], "never opened upstream"
    assert calls(gw, "old-voice", "refuse") == before + 1


def test_a_rewritten_realtime_model_opens_its_replacement_and_says_so(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    old = "gpt-4o-mini-realtime-preview"
    headers = asyncio.run(asyncio.wait_for(handshake(sdk(gw), old), 20))
    assert headers["x-gateway-rewritten-from"] == old
    assert headers["sunset"] == "Thu, 23 Jul 2026 00:00:00 GMT"
    opened = [r for r in fake.requests if r.path == "/v1/realtime"]
    assert opened[-1].query["model"] == "gpt-realtime-mini"
    assert calls(gw, old, "rewrite") >= 1


def test_a_rewritten_sessions_update_may_name_the_model_it_asked_for(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    old = "gpt-4o-mini-realtime-preview"

    async def scenario() -> str:
        async with sdk(gw).realtime.connect(model=old) as conn:
            await conn.session.update(session={"type": "realtime", "model": old})
            async for event in conn:
                if event.type in ("session.updated", "error"):
                    return event.type
        raise AssertionError("the session ended first")

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == "session.updated"
    updates = [e for _, e in fake.realtime_events if e["type"] == "session.update"]
    assert updates[-1]["session"]["model"] == "gpt-realtime-mini", "named as the upstream knows it"


def test_a_client_secret_answer_carries_the_headers_and_opens_a_session_by_the_old_name(
    gw: GatewayServer,
) -> None:
    old = "gpt-4o-mini-realtime-preview"
    minted = httpx.post(
        f"{gw.base_url}/realtime/client_secrets",
        headers={"authorization": f"Bearer {gw.token('old-rt')}"},
        json={"session": {"type": "realtime", "model": old}},
    )
    assert minted.status_code == 200, minted.text
    assert minted.headers["x-gateway-rewritten-from"] == old
    assert minted.headers["sunset"] == "Thu, 23 Jul 2026 00:00:00 GMT"
    assert minted.json()["session"]["model"] == "gpt-realtime-mini"
    # A browser connects naming the model it asked for: the secret holds its replacement.
    browser = openai.AsyncOpenAI(
        base_url=gw.base_url, api_key=minted.json()["value"], max_retries=0
    )
    headers = asyncio.run(asyncio.wait_for(handshake(browser, old), 20))
    assert headers["x-gateway-rewritten-from"] == old


def test_a_webrtc_calls_answer_carries_the_headers(gw: GatewayServer) -> None:
    session = {"type": "realtime", "model": "gpt-4o-realtime-preview"}
    answer = httpx.post(
        f"{gw.base_url}/realtime/calls",
        headers={"authorization": f"Bearer {gw.token('old-rt')}"},
        files={
            "sdp": (None, SDP_OFFER, "application/sdp"),
            "session": (None, json.dumps(session), "application/json"),
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["sunset"] == "Mon, 01 Mar 2027 00:00:00 GMT"
    assert answer.headers["deprecation"].startswith("@")


async def create(conn: Any, model: str) -> Any:
    """The terminal or error event answering a ``response.create`` of ``model``."""
    await conn.response.create(model=model, input="hi")
    async for event in conn:
        if event.type in ("response.completed", "response.failed", "error"):
            return event
    raise AssertionError("the socket closed first")


def test_the_responses_socket_counts_rewrites_and_refuses_like_http(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = {
        (m, a): calls(gw, m, a) for m, a in
        [("gpt-5-mini", "warn"), ("small", "rewrite"), ("gpt-4.1", "refuse")]
    }  # fmt: skip

    async def scenario() -> list[Any]:
        async with sdk(gw).responses.connect() as conn:
            return [await create(conn, m) for m in ("gpt-5-mini", "small", "gpt-4.1", "gpt-5-nano")]

    warned, rewritten, refused, after = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert (warned.type, warned.response.model) == ("response.completed", "gpt-5-mini")
    assert (rewritten.type, rewritten.response.model) == ("response.completed", "gpt-5-nano")
    assert refused.type == "error"
    assert (refused.error.code, refused.error.param) == ("model_not_found", "model")
    assert "`gpt-5-mini`" in refused.error.message
    assert refused.status == 404
    assert after.type == "response.completed", "the socket stays open"
    sent = [e["model"] for _, e in fake.responses_ws_events if e.get("type") == "response.create"]
    assert sent[-3:] == ["gpt-5-mini", "gpt-5-nano", "gpt-5-nano"], "the refused one never went"
    for (model, action), count in before.items():
        assert calls(gw, model, action) == count + 1, (model, action)
