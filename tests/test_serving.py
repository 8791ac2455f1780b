"""SIGTERM on a real `gateway serve`: readiness goes first, streams finish, the ledger has them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness import JWT_SECRET, PRICING, UPSTREAM_KEY, config_dict, ledger_rows, merged, to_yaml
from poll import eventually_sync, latest_sync
from websockets.exceptions import ConnectionClosed

from fake_openai import FakeOpenAIServer
from gateway.auth import mint_token
from gateway.config import compile_config, parse_config

pytestmark = pytest.mark.slow
STREAMS = 4
SERVER = {"drain_s": 1.0, "shutdown_timeout_s": 20}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def slow_fake() -> Any:
    with FakeOpenAIServer(api_key=UPSTREAM_KEY, event_delay_s=0.1) as server:
        yield server


def test_sigterm_drains_then_lets_streams_finish_and_everything_is_in_the_ledger(
    slow_fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    yaml = to_yaml(merged(config_dict(slow_fake.base_url), {"server": SERVER}))
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml)
    shutil.copy(PRICING, tmp_path / "pricing.yaml")
    db = tmp_path / "gateway.db"
    port = free_port()
    env = {
        **os.environ,
        "TEST_JWT_SECRET": JWT_SECRET,
        "TEST_UPSTREAM_KEY": UPSTREAM_KEY,
        "GATEWAY_DATABASE_URL": f"sqlite:///{db}",
        "GATEWAY_METRICS_PORT": str(free_port()),
    }
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    runtime = compile_config(parse_config(yaml), env)
    assert runtime.hs_secret is not None
    token = mint_token(
        runtime.auth, runtime.hs_secret, "alpha", admin=False, ttl_s=600, subject="svc"
    )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                return httpx.get(f"{root}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        eventually_sync(healthy, 15, 0.1, what="the gateway to start")

        started = threading.Barrier(STREAMS + 2)  # the streams, the voice session, this thread
        finished: list[list[str]] = []

        def stream() -> None:
            client = openai.OpenAI(base_url=f"{root}/v1", api_key=token, max_retries=0)
            types: list[str] = []
            events = client.responses.create(
                model="gpt-5-nano", input="one two three four five six seven eight", stream=True
            )
            for i, event in enumerate(events):
                types.append(event.type)
                if i == 0:
                    started.wait(10)
            finished.append(types)

        threads = [threading.Thread(target=stream) for _ in range(STREAMS)]
        for t in threads:
            t.start()

        shutdown_event: dict[str, Any] = {}

        async def voice() -> None:
            sdk = openai.AsyncOpenAI(base_url=f"{root}/v1", api_key=token, max_retries=0)
            async with sdk.realtime.connect(model="gpt-realtime") as conn:
                await conn.recv()  # session.created
                started.wait(10)
                try:
                    async for event in conn:
                        if event.type == "error":
                            shutdown_event["code"] = event.error.code
                except ConnectionClosed as closed:
                    shutdown_event["close"] = closed.rcvd.code if closed.rcvd else None

        voice_thread = threading.Thread(target=lambda: asyncio.run(voice()))
        voice_thread.start()
        started.wait(10)  # every stream has its first event, the session is open
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        ready = latest_sync(
            lambda: httpx.get(f"{root}/readyz"), lambda r: r.status_code == 503, 5, 0.02
        )
        assert ready.status_code == 503, "readiness goes false first"
        assert ready.json()["status"] == "draining"
        assert httpx.get(f"{root}/healthz").status_code == 200, "still serving while draining"

        for t in [*threads, voice_thread]:
            t.join(30)
        # uvicorn re-raises the signal once it has shut down gracefully: exit "by SIGTERM".
        assert proc.wait(30) in (0, -signal.SIGTERM)
        took = time.monotonic() - sent_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(finished) == STREAMS
    assert all(types[-1] == "response.completed" for types in finished), "streams complete"
    assert shutdown_event.get("code") == "gateway_shutdown"
    assert shutdown_event.get("close") == 1012, "service restart: reconnect elsewhere"
    assert took < 1.0 + 20, "within the drain and the shutdown timeout"
    rows = [r for r in ledger_rows(f"sqlite:///{db}") if r["endpoint"] == "responses"]
    assert len(rows) == STREAMS
    assert all(r["outcome"] == "completed" and not r["estimated"] for r in rows)
    assert json.dumps(rows, default=str).count("alpha") >= STREAMS
