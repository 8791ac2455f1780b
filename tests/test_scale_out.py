"""Three real `gateway serve` processes sharing one Redis and one PostgreSQL.

What a platform team relies on when it scales out: a tenant's budget and rate
limit hold across replicas (not x3), every admitted call is in the ledger once,
a replica killed mid-load leaves nothing held and nothing counted twice (both
on one Redis and on a three-master Redis Cluster), and losing Redis does what
each tenant's ``when_store_down`` says (one shard of a cluster going down:
`tests/quota/test_cluster.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis as redis_client
from harness import JWT_SECRET, PRICING, UPSTREAM_KEY, config_dict, ledger_rows, to_yaml
from pg import PostgresServer
from poll import eventually, eventually_sync
from redis_cluster import RedisCluster
from redis_server import RedisServer

from fake_openai import FakeOpenAIServer
from gateway.auth import mint_token
from gateway.config import compile_config, parse_config
from gateway.quota.shared.reseed import CLOCK_SKEW_S

pytestmark = pytest.mark.slow

BUDGET_NANOS = 300_000  # $0.0003: a call's bound is 83,500 nanos, its real cost 3,350
STANDARD = {"models": ["*"], "service_tiers": ["auto", "default"]}
TENANTS = {
    # Never served at priority (auto is bounded at standard): the figures below are standard.
    "team": {"max_output_tokens": 200, "budgets": {"daily_usd": 0.0003}, **STANDARD},
    "paced": {"models": ["*"], "max_output_tokens": 200, "limits": {"rpm": 30}},
    # A concurrency limit it never reaches: its calls hold shares for the SIGKILL test to check.
    "roomy": {
        "max_output_tokens": 200,
        "budgets": {"daily_usd": 100},
        "limits": {"concurrent": 1000},
        **STANDARD,
    },
    "fenced": {"models": ["*"], "max_output_tokens": 200, "budgets": {"daily_usd": 100}},
    # The tokens' subject "svc" is a service with a budget of its own, inside a roomy tenant's.
    "split": {
        "max_output_tokens": 200,
        "budgets": {"daily_usd": 100},
        "services": {"known": {"svc": {"budgets": {"daily_usd": 0.0003}}}},
        **STANDARD,
    },
    "lenient": {
        "models": ["*"],
        "max_output_tokens": 200,
        "budgets": {"daily_usd": 100},
        "limits": {"when_store_down": "open"},
    },
}
STREAM_BOUND = 84_250  # that call streamed: "stream": true is in its input estimate
ALIVE_S = 1.5  # GATEWAY_REDIS_ALIVE_S: how soon a killed replica's holds are reclaimed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    def __init__(self, tmp: Path, upstream: str, database_url: str, redis_url: str) -> None:
        self.yaml = to_yaml(config_dict(upstream, tenants=TENANTS))
        self.config = tmp / "gateway.yaml"
        self.config.write_text(self.yaml)
        shutil.copy(PRICING, tmp / "pricing.yaml")
        self.tmp = tmp
        self.database_url = database_url
        self.env = {
            **os.environ,
            "TEST_JWT_SECRET": JWT_SECRET,
            "TEST_UPSTREAM_KEY": UPSTREAM_KEY,
            "GATEWAY_DATABASE_URL": database_url,
            "GATEWAY_REDIS_URL": redis_url,
            "GATEWAY_REDIS_ALIVE_S": str(ALIVE_S),
        }
        self.env.pop("OPENAI_API_KEY", None)
        runtime = compile_config(parse_config(self.yaml), self.env)
        assert runtime.hs_secret is not None
        self._auth, self._secret = runtime.auth, runtime.hs_secret
        self.ports = [free_port() for _ in range(3)]
        self.metrics_ports = [free_port() for _ in range(3)]
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for i, port in enumerate(self.ports):
            log = open(self.tmp / f"replica{i}.log", "wb")  # noqa: SIM115 - the process keeps it
            argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config)]
            self.procs.append(
                subprocess.Popen(
                    [*argv, "--port", str(port)],
                    cwd=self.tmp,
                    env={**self.env, "GATEWAY_METRICS_PORT": str(self.metrics_ports[i])},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for i in range(3):
            self.wait_ready(i)

    def wait_ready(self, i: int) -> None:
        def ready() -> bool:
            assert self.procs[i].poll() is None, self.log(i)
            try:
                return httpx.get(f"{self.root(i)}/readyz").status_code == 200
            except httpx.TransportError:
                return False

        eventually_sync(ready, 20, 0.1, what=lambda: f"replica {i} did not start: {self.log(i)}")

    def log(self, i: int) -> str:
        return (self.tmp / f"replica{i}.log").read_text(errors="replace")

    def root(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def metrics_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[i]}/metrics"

    def token(self, tenant: str) -> str:
        return mint_token(self._auth, self._secret, tenant, admin=False, ttl_s=600, subject="svc")

    def client(self, i: int, tenant: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.root(i)}/v1", api_key=self.token(tenant), max_retries=0, timeout=30
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


Store = RedisServer | RedisCluster  # one Redis, or a three-master Redis Cluster


@contextlib.contextmanager
def replicas(store: Store, postgres: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    with FakeOpenAIServer(api_key=UPSTREAM_KEY, event_delay_s=0.1) as fake:  # streams last ~1 s
        c = Cluster(tmp_path, fake.base_url, postgres.migrated_database(), store.url)
        try:
            c.start()
            yield c
        finally:
            c.stop()


@pytest.fixture
def cluster(
    redis: RedisServer, postgres: PostgresServer, tmp_path: Path
) -> Iterator[tuple[Cluster, RedisServer]]:
    with replicas(redis, postgres, tmp_path) as c:
        yield c, redis


@pytest.fixture(params=["redis", "redis-cluster"])
def on_either(
    request: pytest.FixtureRequest, postgres: PostgresServer, tmp_path: Path
) -> Iterator[tuple[Cluster, Store]]:
    """The replicas on one Redis, then on a Redis Cluster (tenants' keys on their shards)."""
    store: Store = request.getfixturevalue("redis" if request.param == "redis" else "empty_cluster")
    with replicas(store, postgres, tmp_path) as c:
        yield c, store


def store_client(store: Store) -> redis_client.Redis | redis_client.RedisCluster:
    if isinstance(store, RedisCluster):
        return redis_client.RedisCluster(host="127.0.0.1", port=store.ports[0])
    return redis_client.Redis(port=store.port)


async def call(client: openai.AsyncOpenAI, *, stream: bool = False) -> tuple[int, str, str | None]:
    """(status, x-gateway-request-id, error code) of one Responses call."""
    try:
        if stream:
            async with client.responses.stream(model="gpt-5-nano", input="hello replicas") as s:
                final = await s.get_final_response()
            assert final.status == "completed"
            return 200, "", None
        raw = await client.responses.with_raw_response.create(
            model="gpt-5-nano", input="hello replicas"
        )
        return 200, raw.headers["x-gateway-request-id"], None
    except openai.APIStatusError as err:
        return err.status_code, err.response.headers.get("x-gateway-request-id", ""), err.code


def serving_at_least(c: Cluster, replica: int, at_least: int) -> bool:
    """Whether the replica is serving ``at_least`` requests now (its in-flight gauge)."""
    text = httpx.get(c.metrics_url(replica)).text
    [line] = [ln for ln in text.splitlines() if ln.startswith("gateway_in_flight_requests ")]
    return float(line.split()[1]) >= at_least


def rows_of(c: Cluster, tenant: str) -> list[dict[str, Any]]:
    return [r for r in ledger_rows(c.database_url) if r["tenant"] == tenant]


def budget_counter(r: Store, tenant: str, scope: str = r"\*") -> tuple[int, int]:
    """(spent, reserved) of the tenant's day budget in Redis (``scope``: a service's, say)."""
    client = store_client(r)
    try:
        keys = list(client.scan_iter(rf"gw:budget:{{{tenant}}}:{scope}:????-??-??"))
        if not keys:  # not (re-)seeded yet: nothing counted
            return 0, 0
        [key] = keys
        spent, reserved = client.hmget(key, "s", "r")
        return int(spent or 0), int(reserved or 0)
    finally:
        client.close()


def settle_down(
    r: Store, c: Cluster, tenant: str, scope: str = r"\*"
) -> tuple[int, int, list[dict[str, Any]]]:
    """Wait until Redis and the ledger agree on the tenant's spend (settles follow commits)."""
    last = (0, 0, list[dict[str, Any]]())

    def agree() -> bool:
        nonlocal last
        last = (*budget_counter(r, tenant, scope), rows_of(c, tenant))
        spent, reserved, rows = last
        return reserved == 0 and spent == sum(int(row["cost_nanos"]) for row in rows)

    def disagreement() -> str:
        spent, reserved, rows = last
        total = sum(int(row["cost_nanos"]) for row in rows)
        return f"Redis spent {spent}, reserved {reserved}; the ledger {total} in {len(rows)} rows"

    eventually_sync(agree, 15, 0.2, what=disagreement)
    return last


def test_budget_rpm_and_the_ledger_hold_across_three_replicas(
    on_either: tuple[Cluster, Store],
) -> None:
    c, r = on_either
    clients = [c.client(i, "team") for i in range(3)]

    async def burst() -> list[tuple[int, str, str | None]]:
        return await asyncio.gather(*(call(clients[i % 3]) for i in range(300)))

    results = asyncio.run(burst())
    admitted = [rid for status, rid, _ in results if status == 200]
    refused = [code for status, _, code in results if status != 200]
    assert set(refused) == {"budget_exceeded"}, "the only refusal is the budget"
    assert 3 <= len(admitted) < 300, "the budget covers a fraction of the calls"

    spent, reserved, rows = settle_down(r, c, "team")
    assert sorted(row["request_id"] for row in rows) == sorted(admitted), (
        "every admitted call is in the ledger exactly once, and nothing else is"
    )
    total = sum(int(row["cost_nanos"]) for row in rows)
    assert total <= BUDGET_NANOS, "three replicas did not spend three budgets"
    assert (spent, reserved) == (total, 0), "Redis and the ledger agree"

    # A service's own budget inside its tenant's holds the same way.
    split = [c.client(i, "split") for i in range(3)]

    async def services() -> list[tuple[int, str, str | None]]:
        return await asyncio.gather(*(call(split[i % 3]) for i in range(150)))

    results = asyncio.run(services())
    admitted = [rid for status, rid, _ in results if status == 200]
    assert {code for status, _, code in results if status != 200} == {"budget_exceeded"}
    assert 3 <= len(admitted) < 150
    spent, reserved, rows = settle_down(r, c, "split", "service:svc")
    assert sorted(row["request_id"] for row in rows) == sorted(admitted)
    total = sum(int(row["cost_nanos"]) for row in rows)
    assert total <= BUDGET_NANOS, "the service's budget held across three replicas"
    assert (spent, reserved) == (total, 0), "Redis and the ledger agree"

    paced = [c.client(i, "paced") for i in range(3)]

    async def rush() -> list[tuple[int, str, str | None]]:
        return await asyncio.gather(*(call(paced[i % 3]) for i in range(90)))

    started = time.monotonic()
    results = asyncio.run(rush())
    refill = math.ceil((time.monotonic() - started) * 30 / 60)
    ok = sum(1 for status, _, _ in results if status == 200)
    assert {code for status, _, code in results if status != 200} == {"rate_limit_exceeded"}
    assert 30 <= ok <= 30 + refill, f"rpm 30 held globally ({ok} admitted, not 90)"


def test_a_replica_killed_mid_load_leaves_nothing_held_or_counted_twice(
    on_either: tuple[Cluster, Store],
) -> None:
    c, r = on_either
    victim = c.procs[0]
    survivors = [c.client(i, "roomy") for i in (1, 2)]
    doomed = c.client(0, "roomy")

    async def load() -> tuple[list[Any], list[Any]]:
        on_victim = [asyncio.create_task(call(doomed, stream=True)) for _ in range(20)]
        on_others = [asyncio.create_task(call(survivors[i % 2], stream=True)) for i in range(40)]
        for i in range(3):  # streams are open on every replica (each lasts ~1 s)
            serving = functools.partial(asyncio.to_thread, serving_at_least, c, i, 10)
            await eventually(serving, 5, 0.02, what=f"replica {i} serving")
        victim.send_signal(signal.SIGKILL)
        lost = await asyncio.gather(*on_victim, return_exceptions=True)
        served = await asyncio.gather(*on_others, return_exceptions=True)
        after = await asyncio.gather(*(call(survivors[i % 2]) for i in range(20)))
        return lost, [*served, *after]

    lost, served = asyncio.run(load())
    assert victim.wait(5) == -signal.SIGKILL
    assert all(not isinstance(res, BaseException) and res[0] == 200 for res in served), (
        f"the other replicas kept serving: {served}"
    )
    assert any(isinstance(result, Exception) for result in lost), "the kill cut some calls"

    # After GATEWAY_REDIS_ALIVE_S and a heartbeat, a survivor reclaims the dead one's holds:
    # each of its calls is charged what the ledger says, or its whole bound with an
    # "orphaned" row when the row died with it.
    spent, reserved, rows = settle_down(r, c, "roomy")
    assert reserved == 0, "the dead replica's reservations were reclaimed"
    assert spent == sum(int(row["cost_nanos"]) for row in rows), "nothing counted twice"
    keys = [(row["request_id"], row["attempt"]) for row in rows]
    assert len(keys) == len(set(keys))
    orphaned = [row for row in rows if row["outcome"] == "orphaned"]
    assert orphaned, "streams cut by the kill are charged, not forgotten"
    assert all(row["estimated"] and int(row["cost_nanos"]) == STREAM_BOUND for row in orphaned), [
        (row["estimated"], row["cost_nanos"]) for row in orphaned
    ]
    assert len(rows) >= 60, "the survivors' 60 calls, plus what the victim wrote or orphaned"
    client = store_client(r)
    try:
        in_flight = client.hgetall("gw:conc:{roomy}")
        assert sum(int(v) for v in in_flight.values()) == 0, "no concurrency share left held"
    finally:
        client.close()


def test_redis_stopped_mid_run_fails_closed_or_open_per_tenant(
    cluster: tuple[Cluster, RedisServer],
) -> None:
    c, r = cluster

    async def both() -> list[tuple[int, str, str | None]]:
        async with c.client(1, "fenced") as fenced, c.client(2, "lenient") as lenient:
            return list(await asyncio.gather(call(fenced), call(lenient)))

    assert [status for status, _, _ in asyncio.run(both())] == [200, 200]
    r.stop()
    (f_status, _, f_code), (l_status, l_request, _) = asyncio.run(both())
    assert (f_status, f_code) == (503, "quota_store_unavailable"), "closed: a clear 503"
    assert l_status == 200, "open: admitted on this replica's own limits"
    metrics = httpx.get(c.metrics_url(1)).text
    assert "gateway_quota_store_up 0.0" in metrics
    assert httpx.get(f"{c.root(1)}/readyz").status_code == 200, (
        "a Redis outage does not take every replica out of the Service"
    )
    # An outage, not a blip: the fail-open row is committed well before... (real time in
    # other processes: a row committed within the replicas' clock skew of another replica's
    # re-seeding read counts as not in it, by design an over-count, so the row is waited for
    # and then the skew allowance, with room for a loaded machine)
    committed = lambda: l_request in {r["request_id"] for r in rows_of(c, "lenient")}  # noqa: E731
    eventually_sync(committed, 15, 0.1, what="the fail-open call's ledger row")
    time.sleep(2 * CLOCK_SKEW_S + 0.5)
    r.start()  # ...Redis comes back empty and budgets are re-seeded from the ledger
    eventually_sync(lambda: asyncio.run(both())[0][0] == 200, 15, 0.2, what="fenced recovered")
    assert "gateway_quota_store_up 1.0" in httpx.get(c.metrics_url(1)).text
    spent, reserved, rows = settle_down(r, c, "lenient")
    assert (spent, reserved) == (sum(int(row["cost_nanos"]) for row in rows), 0), (
        "the fail-open spend is in the budget once"
    )
