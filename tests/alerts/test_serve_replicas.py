"""Real gateways and one webhook: the whole path, on three replicas and on one.

Three `gateway serve` processes share one Redis: calls through different replicas

cross a soft budget's thresholds; each
replica's alert rounds (every 0.2 s here) see the shared levels and race for the
claims; the webhook, a real HTTP server in this process, gets each crossing once,
signed. The replica helpers are `tests/test_scale_out.py`'s. One gateway without
Redis claims in its own process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness import UPSTREAM_KEY, GatewayServer, config_dict, env_for_tests, merged, to_yaml
from pg import PostgresServer
from poll import eventually_sync, within_sync
from redis_server import RedisServer
from test_scale_out import Cluster, call

from fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.slow

SECRET = "whsec-serve-test-0123456789"
# Soft: every call is admitted; a call costs about 3,330 nanos, so the 2nd call crosses 50%
# of 10,000 and the 3rd crosses 90%.
TENANT = {"models": ["*"], "max_output_tokens": 200, "service_tiers": ["auto", "default"],
          "budgets": {"daily_usd": 0.00001, "mode": "soft"}}  # fmt: skip


class Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers["X-Gateway-Alert-Timestamp"]
        mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        signed = self.headers["X-Gateway-Alert-Signature"] == "v1=" + mac.hexdigest()
        self.received.append({**json.loads(body), "signed": signed})
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what was received."""


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Recording", (Webhook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/gateway", received
    finally:
        server.shutdown()
        thread.join()


def alerting(upstream: str, url: str) -> dict[str, Any]:
    alerts = {
        "interval_s": 0.2,
        "thresholds": [50, 90],
        "webhooks": {"finance": {"url": url, "secret_env": "TEST_ALERT_SECRET"}},
        "delivery": {"attempts": 2, "base_delay_s": 0},
    }
    return merged(config_dict(upstream, tenants={"spender": TENANT}), {"alerts": alerts})


def test_three_gateway_replicas_send_each_crossing_once(
    redis: RedisServer,
    postgres: PostgresServer,
    tmp_path: Path,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    with FakeOpenAIServer(api_key=UPSTREAM_KEY) as fake:
        c = Cluster(tmp_path, fake.base_url, postgres.migrated_database(), redis.url)
        config = alerting(fake.base_url, url)
        c.config.write_text(to_yaml(config))
        c.env["TEST_ALERT_SECRET"] = SECRET
        try:
            c.start()
            clients = [c.client(i, "spender") for i in range(3)]

            def spend(i: int) -> None:
                status, _, _ = asyncio.run(call(clients[i]))
                assert status == 200

            spend(0)
            spend(1)  # 67%
            eventually_sync(lambda: len(received) >= 1, 10, what="the 50% notification")
            spend(2)  # 99.8%
            eventually_sync(
                lambda: len(received) >= 2, 10, what=lambda: f"the 90% notification: {received}"
            )
            # Every replica's next rounds (0.2 s apart) see both crossings sent: none again.
            assert not within_sync(lambda: len(received) > 2, 1.5), received
            assert [(e["threshold_percent"], e["tenant"], e["signed"]) for e in received] == [
                (50, "spender", True),
                (90, "spender", True),
            ]
            sent = [
                _metric(c, i, "gateway_alert_notifications_total", 'outcome="sent"')
                for i in range(3)
            ]
            assert sum(sent) == 2
            pending = [_metric(c, i, "gateway_alert_pending_notifications") for i in range(3)]
            assert pending == [0, 0, 0]
        finally:
            c.stop()


def _metric(c: Cluster, replica: int, name: str, labels: str = "") -> float:
    """The sum of the replica's samples of ``name`` whose labels hold ``labels``."""
    lines = httpx.get(c.metrics_url(replica)).text.splitlines()
    samples = [ln for ln in lines if ln.startswith((name + "{", name + " ")) and labels in ln]
    return sum(float(line.rsplit(" ", 1)[1]) for line in samples)


def test_one_gateway_without_redis_sends_each_crossing_once(
    fake: FakeOpenAIServer, db_url: str, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    env = {**env_for_tests(), "TEST_ALERT_SECRET": SECRET}
    with GatewayServer(alerting(fake.base_url, url), env=env, database_url=db_url) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("spender"), max_retries=0)
        for _ in range(4):  # about 2,850 nanos each: past 90% of 10,000
            client.responses.create(model="gpt-5-nano", input="hello")
        eventually_sync(
            lambda: len(received) >= 2, 10, what=lambda: f"two notifications: {received}"
        )
        assert not within_sync(lambda: len(received) > 2, 1.0), received
    # Both may be due in one round, sent side by side: in either order.
    assert sorted((e["threshold_percent"], e["signed"]) for e in received) == [
        (50, True),
        (90, True),
    ]
