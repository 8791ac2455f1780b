"""Shared fixtures: one fake upstream and one gateway for the session, SDK clients per tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest
from harness import UPSTREAM_KEY, GatewayServer, config_dict
from pg import PostgresServer
from redis_cluster import RedisCluster
from redis_server import RedisServer

from fake_openai import FakeOpenAIServer


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=UPSTREAM_KEY) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAIServer) -> FakeOpenAIServer:
    """The fake upstream with no recorded requests and no queued faults."""
    fake_server.clear()
    return fake_server


@pytest.fixture(scope="session")
def gateway(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("db") / "gateway.db"
    with GatewayServer(config_dict(fake_server.base_url), database_url=f"sqlite:///{db}") as gw:
        yield gw


@pytest.fixture
def client_for(gateway: GatewayServer) -> Callable[[str], openai.OpenAI]:
    """``client_for("alpha")``: the official SDK with a tenant's token as its API key."""

    def make(tenant: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=gateway.base_url, api_key=gateway.token(tenant), max_retries=0, timeout=10
        )

    return make


@pytest.fixture
def alpha(client_for: Callable[[str], openai.OpenAI]) -> openai.OpenAI:
    return client_for("alpha")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; tests take fresh databases from it."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis for the session; ``redis`` hands each test an empty one."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    if not redis_server.running:  # a test stopped it
        redis_server.start()
    redis_server.flush()
    return redis_server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """One real three-master Redis Cluster for the session; ``empty_cluster`` hands each test
    an empty one with every node up."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def empty_cluster(redis_cluster: RedisCluster) -> RedisCluster:
    for i in range(len(redis_cluster.ports)):
        redis_cluster.resume_node(i)  # a test paused it
        redis_cluster.start_node(i, wait=False)  # a test stopped it
    redis_cluster.wait_ok()
    redis_cluster.flush()
    return redis_cluster


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def dialect_db_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """A fresh database of each dialect: a SQLite file, and a database of the session's real
    PostgreSQL server migrated the way ``gateway db upgrade`` does it (without PostgreSQL
    installed that run skips, and fails in CI: `needs.missing`)."""
    if request.param == "sqlite":
        return db_url
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.migrated_database()
