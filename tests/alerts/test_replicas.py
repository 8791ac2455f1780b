"""Three replicas, one real Redis, one real webhook: each crossing is delivered exactly once.

Each replica is what `gateway serve` runs: its own `RedisQuota` and its own alert
evaluator with its own Redis client (claims) and HTTP client (delivery); the
webhook is an aiohttp server on a free port. Their rounds run concurrently, so
they race for every claim. Then Redis goes away while a crossing is due, and
comes back empty: the crossing waits, and is delivered once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web
from alerts.fakes import SECRET, USD, runtime
from quota.fakes import replica
from redis_cluster import RedisCluster
from redis_server import RedisServer

from gateway.alerts import AlertEvaluator
from gateway.alerts.redis_claims import RedisClaims
from gateway.config import RuntimeConfig
from gateway.quota.shared import RedisQuota
from gateway.telemetry.metrics import Metrics

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook: records every request, checks its signature, answers 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers["X-Gateway-Alert-Timestamp"]
        mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        assert request.headers["X-Gateway-Alert-Signature"] == "v1=" + mac.hexdigest()
        event = orjson.loads(body)
        assert request.headers["X-Gateway-Alert-Id"] == event["id"]
        self.received.append(event)
        return web.Response(status=204)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        try:
            yield self
        finally:
            await runner.cleanup()

    def thresholds(self) -> list[int]:
        return sorted(e["threshold_percent"] for e in self.received)


class Replica:
    def __init__(self, quota: RedisQuota, config: RuntimeConfig, redis_url: str) -> None:
        self.quota = quota
        self.metrics = Metrics()
        self.alerts = AlertEvaluator(lambda: config, quota, RedisClaims(redis_url), self.metrics)

    def pending(self) -> float:
        return self.metrics.registry.get_sample_value("gateway_alert_pending_notifications") or 0


def config_for(receiver: Receiver) -> RuntimeConfig:
    hook = {"url": receiver.url, "secret_env": "HOOK_SECRET", "timeout_s": 2}
    delivery = {"attempts": 2, "base_delay_s": 0}
    return runtime(
        {"webhooks": {"hook": hook}, "delivery": delivery}, {"acme": {"budgets": {"daily_usd": 10}}}
    )


async def spend(r: Replica, config: RuntimeConfig, usd: float) -> None:
    policy = config.tenants["acme"]
    ticket = await r.quota.admit(
        "acme", "gpt-5-nano", policy, bound=int(usd * USD), tokens=1, now=time.time()
    )
    r.quota.settle(ticket, int(usd * USD), 1, time.time())
    await asyncio.wait_for(r.quota.drain(), 5)


async def rounds(replicas: list[Replica], n: int = 2) -> None:
    """Every replica's round at once, ``n`` times: they race for the same claims."""
    for _ in range(n):
        await asyncio.gather(*(r.alerts.round() for r in replicas))


Scenario = Callable[[list[Replica], RuntimeConfig, Receiver], Coroutine[Any, Any, None]]


def with_replicas(redis: RedisServer | RedisCluster, scenario: Scenario) -> None:
    async def run() -> None:
        async with AsyncExitStack() as stack:
            receiver = await stack.enter_async_context(Receiver().serving())
            config = config_for(receiver)
            quotas = [await stack.enter_async_context(replica(redis)) for _ in range(3)]
            replicas = [Replica(q, config, redis.url) for q in quotas]
            for r in replicas:
                stack.push_async_callback(r.alerts.aclose)
            await scenario(replicas, config, receiver)

    asyncio.run(run())


@pytest.fixture(params=["redis", "redis-cluster"])
def store(request: pytest.FixtureRequest) -> RedisServer | RedisCluster:
    """One Redis, then a three-master Redis Cluster (the claims on their tenant's shard)."""
    name = "redis" if request.param == "redis" else "empty_cluster"
    found: RedisServer | RedisCluster = request.getfixturevalue(name)
    return found


def test_three_replicas_send_each_threshold_crossing_once(
    store: RedisServer | RedisCluster,
) -> None:
    async def scenario(replicas: list[Replica], config: RuntimeConfig, receiver: Receiver) -> None:
        a, b, c = replicas
        await spend(a, config, 3)
        await rounds(replicas)
        assert receiver.received == []
        await spend(b, config, 2.5)  # 55%
        await rounds(replicas)
        assert receiver.thresholds() == [50]
        await spend(c, config, 3)  # 85%
        await rounds(replicas)
        await spend(a, config, 1.5)  # 100%
        await rounds(replicas, 3)
        assert receiver.thresholds() == [50, 80, 100]
        assert len({e["id"] for e in receiver.received}) == 3
        assert [e["spent_usd"] for e in receiver.received] == [5.5, 8.5, 10]
        assert sum(r.metrics.registry.get_sample_value(
            "gateway_alert_notifications_total",
            {"kind": "threshold", "outcome": "sent", "webhook": "hook"},
        ) or 0 for r in replicas) == 3  # fmt: skip
        assert [r.pending() for r in replicas] == [0, 0, 0]

    with_replicas(store, scenario)


def test_a_crossing_during_a_redis_outage_is_delivered_once_when_redis_is_back(
    redis: RedisServer,
) -> None:
    async def scenario(replicas: list[Replica], config: RuntimeConfig, receiver: Receiver) -> None:
        await spend(replicas[0], config, 4)
        await rounds(replicas)
        await spend(replicas[1], config, 2)  # 60%: the 50% crossing is due
        for r in replicas:  # every replica has read the new level (a scrape, a usage call)...
            await r.quota.budget_status("acme", config.tenants["acme"], time.time())
        redis.stop()  # ... when Redis goes away, with its data
        await rounds(replicas, 3)
        assert receiver.received == []  # never sent unclaimed
        assert [r.pending() for r in replicas] == [1, 1, 1]  # nor dropped
        redis.start()
        await rounds(replicas, 3)
        assert receiver.thresholds() == [50]
        assert [r.pending() for r in replicas] == [0, 0, 0]

    with_replicas(redis, scenario)
