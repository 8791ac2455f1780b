"""Refusals of a Realtime upgrade before any WebSocket exists (wrong or missing key,
missing model, a fault), and the browser's subprotocol key.
"""

from __future__ import annotations

import json

from fake_clients import API_KEY, MODEL, refusal, run, sdk
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from fake_openai import FakeOpenAIServer, Fault


def ws_base(fake: FakeOpenAIServer) -> str:
    return fake.base_url.replace("http://", "ws://", 1)


def test_wrong_key_is_refused_with_401_before_the_upgrade(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake, "sk-wrong-key-0000000000").realtime.connect(model=MODEL):
            pass

    status, error = refusal(scenario())
    assert status == 401
    assert error["code"] == "invalid_api_key"
    assert "sk-wrong" not in error["message"].replace("sk-*****", "")


def test_missing_model_is_refused_with_400(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect():
            pass

    status, error = refusal(scenario())
    assert (status, error["param"], error["code"]) == (400, "model", "missing_required_parameter")


def test_fault_status_refuses_the_upgrade(fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/realtime", status=429, headers={"retry-after": "2"}))

    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL):
            pass

    status, error = refusal(scenario())
    assert (status, error["code"]) == (429, "rate_limit_exceeded")


def test_browser_subprotocol_key_is_accepted_and_realtime_is_echoed(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with ws_connect(
            f"{ws_base(fake)}/realtime?model={MODEL}",
            subprotocols=[
                Subprotocol("realtime"),
                Subprotocol(f"openai-insecure-api-key.{API_KEY}"),
            ],
        ) as ws:
            assert ws.subprotocol == "realtime"
            assert json.loads(await ws.recv())["type"] == "session.created"

    run(scenario())
    (upgrade,) = fake.requests
    assert "authorization" not in upgrade.headers


def test_wrong_subprotocol_key_is_refused(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with ws_connect(
            f"{ws_base(fake)}/realtime?model={MODEL}",
            subprotocols=[
                Subprotocol("realtime"),
                Subprotocol("openai-insecure-api-key.sk-nope-000000"),
            ],
        ):
            pass

    status, error = refusal(scenario())
    assert (status, error["code"]) == (401, "invalid_api_key")
