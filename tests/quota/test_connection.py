"""`connect`: the quota's client for one Redis server or a Redis Cluster, and how redis-py's
(8.2) asyncio cluster client behaves in what the quota does, against a real three-master
cluster (`redis_cluster.RedisCluster`).

What the cluster tests pin down, for the courier and the scripts built on it:
(a) SCRIPT LOAD goes to every primary, and fails while one is down (load it per node then);
(b) a non-transactional pipeline across shards answers each command in order, a shard's
errors (NOSCRIPT, CLUSTERDOWN, a broken connection, a timeout) as values, not raised;
(c) keys hash-tagged ``{tenant}`` share a slot; a multi-key script or read needs that, and
across slots redis-py refuses it with a RedisClusterException, which is no RedisError;
(d) while a master is down the others serve, and per-shard pipelines are not disturbed; a
pipeline that must connect to the down shard raises as a whole, after running the other
shards' commands; a restarted master answers CLUSTERDOWN for ~2 s, then NOSCRIPT;
(e) plain keys route by slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from poll import eventually
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    TimeoutError,
)
from redis_cluster import RedisCluster as LocalCluster
from redis_server import RedisServer

from gateway.quota.shared.connection import (
    REDIS_TIMEOUT_S,
    STORE_ERRORS,
    connect,
    is_cluster,
    ready,
)

T = TypeVar("T")

COUNT = "return redis.call('INCR', KEYS[1])"
# Two keys, as an admit touches a tenant's several counters: they must share a slot.
PAIR = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('SADD', KEYS[2], ARGV[1])"


def run(test: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(test())


def cluster_client(cluster: LocalCluster) -> RedisCluster:
    client = connect(cluster.url)
    assert isinstance(client, RedisCluster)
    return client


def tenant_keys(cluster: LocalCluster) -> list[str]:
    """One hash-tagged tenant key per master, master ``i`` owning key ``i``."""
    keys: list[str | None] = [None, None, None]
    n = 0
    while None in keys:
        key = f"gw:{{tenant-{n}}}:count"
        owner = cluster.node_of(key)
        keys[owner] = keys[owner] or key
        n += 1
    return [key for key in keys if key is not None]


def pipeline_of(client: RedisCluster, sha: str, keys: list[str]) -> Any:
    """EVALSHA per key in one non-transactional pipeline, as the courier sends its scripts.

    ``pipe.evalsha`` is refused by redis-py's cluster pipeline (a blocked command);
    ``execute_command("EVALSHA", ...)`` is routed by its first key's slot.
    """
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("EVALSHA", sha, 1, key)
    return pipe


# ------------------------------------------------------------------ connect()


def test_a_server_url_gives_the_blocking_pool_client_packing_with_hiredis(
    redis: RedisServer,
) -> None:
    async def test() -> None:
        client = connect(redis.url)
        assert isinstance(client, aioredis.Redis)
        pool = client.connection_pool
        assert isinstance(pool, aioredis.BlockingConnectionPool)
        assert pool.max_connections == 16
        assert pool.timeout == REDIS_TIMEOUT_S
        assert pool.connection_kwargs["socket_timeout"] == REDIS_TIMEOUT_S
        assert pool.connection_kwargs["socket_connect_timeout"] == REDIS_TIMEOUT_S
        assert pool.connection_class.__name__ == "HiredisConnection"
        try:
            sha = await client.script_load(COUNT)  # two words on the wire
            assert await client.evalsha(sha, 1, "k") == 1
            packed = pool.connection_class().pack_command("SCRIPT LOAD", "x")
            assert packed == [b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$1\r\nx\r\n"]
        finally:
            await client.aclose()

    run(test)


@pytest.mark.parametrize(
    ("url", "connection"),
    [
        ("rediss://h:6380/0", "HiredisSSLConnection"),
        ("unix:///run/redis.sock", "HiredisUnixDomainSocketConnection"),
    ],
)
def test_tls_and_socket_urls_keep_their_connection_class(url: str, connection: str) -> None:
    client = connect(url)
    assert isinstance(client, aioredis.Redis)
    assert client.connection_pool.connection_class.__name__ == connection
    assert not is_cluster(url)


@pytest.mark.parametrize(
    ("url", "connection"),
    [
        ("redis-cluster://:secret@h:7000", "HiredisConnection"),
        ("rediss-cluster://:secret@h:7000", "HiredisSSLConnection"),
    ],
)
def test_a_cluster_url_gives_a_cluster_client_of_its_seed_node(url: str, connection: str) -> None:
    client = connect(url)  # nothing is contacted until the first command
    assert isinstance(client, RedisCluster)
    assert is_cluster(url)
    (seed,) = client.nodes_manager.startup_nodes.values()
    assert (seed.host, seed.port) == ("h", 7000)
    assert seed.connection_class.__name__ == connection
    kwargs = client.connection_kwargs
    assert kwargs["connection_class"].__name__ == connection  # for the nodes it discovers
    assert kwargs["password"] == "secret"
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == REDIS_TIMEOUT_S


def test_a_cluster_url_may_name_several_seeds() -> None:
    client = connect("redis-cluster://u:pw@h1:7000,h2:7001,[::1]:7002/0?ssl_cert_reqs=none")
    assert isinstance(client, RedisCluster)
    seeds = client.nodes_manager.startup_nodes.values()
    assert sorted((seed.host, seed.port) for seed in seeds) == [
        ("::1", 7002), ("h1", 7000), ("h2", 7001)
    ]  # fmt: skip
    assert {seed.connection_class.__name__ for seed in seeds} == {"HiredisConnection"}
    assert all(seed.connection_kwargs["password"] == "pw" for seed in seeds)


def test_a_replica_starting_while_a_master_is_down_reaches_the_others(
    empty_cluster: LocalCluster,
) -> None:
    """The master stopped is the one redis-py asks for its command table (its default
    node), and a seed: `ready` gets past both, if another seed is named."""
    keys = tenant_keys(empty_cluster)

    async def default_node() -> int:
        client = cluster_client(empty_cluster)
        try:
            await ready(client)
            return empty_cluster.ports.index(int(client.get_default_node().port))
        finally:
            await client.aclose()

    down = run(default_node)
    up = [i for i in range(3) if i != down]
    empty_cluster.stop_node(down)

    async def test() -> None:
        alone = connect(f"redis-cluster://127.0.0.1:{empty_cluster.ports[down]}")
        with pytest.raises(STORE_ERRORS) as unreachable:
            await ready(alone)
        assert not isinstance(unreachable.value, RedisError)  # the courier must expect it too
        await alone.aclose()
        for _ in range(5):  # unready, each would go to a random primary first
            client = connect(empty_cluster.seeds_url)
            try:
                await ready(client)
                for i in up:
                    assert await client.set(keys[i], 1)
                with pytest.raises(ConnectionError):
                    await client.set(keys[down], 1)
            finally:
                await client.aclose()

    run(test)


def test_every_cluster_connection_packs_with_hiredis(empty_cluster: LocalCluster) -> None:
    async def test() -> None:
        client = cluster_client(empty_cluster)
        try:
            for key in tenant_keys(empty_cluster):
                await client.set(key, 1)
            nodes = client.get_nodes()
            assert len(nodes) == 3
            for node in nodes:
                assert node.connection_class.__name__ == "HiredisConnection"
                assert {type(c).__name__ for c in node._connections} == {"HiredisConnection"}
        finally:
            await client.aclose()

    run(test)


# ------------------------------------------------------------------ (a) to (c)


def test_a_script_load_reaches_every_primary(empty_cluster: LocalCluster) -> None:
    async def test() -> str:
        client = cluster_client(empty_cluster)
        try:
            return await client.script_load(COUNT)  # redis-py: SCRIPT LOAD goes to PRIMARIES
        finally:
            await client.aclose()

    sha = run(test)
    for i in range(3):
        with empty_cluster.client(i) as node:
            assert node.script_exists(sha) == [True]


def test_a_pipeline_across_shards_answers_in_order_with_noscript_from_a_node_that_lost_them(
    empty_cluster: LocalCluster,
) -> None:
    keys = tenant_keys(empty_cluster)

    async def test() -> list[Any]:
        client = cluster_client(empty_cluster)
        try:
            sha = await client.script_load(COUNT)
            with empty_cluster.client(1) as node:
                node.script_flush()  # as a restarted shard comes back
            results: list[Any] = await pipeline_of(client, sha, [*keys, *keys]).execute(
                raise_on_error=False
            )
            return results
        finally:
            await client.aclose()

    results = run(test)
    assert len(results) == 6
    assert [results[0], results[3]] == [1, 2]  # shard 0, in the order sent
    assert [results[2], results[5]] == [1, 2]  # shard 2
    assert [type(results[1]), type(results[4])] == [NoScriptError, NoScriptError]


def test_hash_tagged_tenant_keys_share_a_slot_and_a_multi_key_script_runs_on_them(
    empty_cluster: LocalCluster,
) -> None:
    a, b = "gw:{acme}:budget:day", "gw:{acme}:inflight"
    assert empty_cluster.slot_of(a) == empty_cluster.slot_of(b)

    async def test() -> None:
        client = cluster_client(empty_cluster)
        try:
            sha = await client.script_load(PAIR)
            assert await client.evalsha(sha, 2, a, b, "x") == 1
            pipe = client.pipeline(transaction=False)
            pipe.execute_command("EVALSHA", sha, 2, a, b, "y")
            assert await pipe.execute() == [1]
            assert await client.smembers(b) == {b"x", b"y"}
            # Across slots redis-py refuses before sending, with no RedisError:
            with pytest.raises(RedisClusterException, match="same key slot"):
                await client.evalsha(sha, 2, a, "gw:{other}:inflight", "z")
            assert not issubclass(RedisClusterException, RedisError)
        finally:
            await client.aclose()

    run(test)


def test_plain_keys_route_by_slot_and_a_read_across_slots_is_refused(
    empty_cluster: LocalCluster,
) -> None:
    replicas, claiming = "gw:replicas", "gw:claiming"
    assert empty_cluster.node_of(replicas) != empty_cluster.node_of(claiming)

    async def test() -> None:
        client = cluster_client(empty_cluster)
        try:
            assert await client.set("gw:flag", "1")
            assert await client.get("gw:flag") == b"1"
            await client.sadd(replicas, "r1")
            await client.sadd(claiming, "r2")
            assert await client.smembers(replicas) == {b"r1"}
            with pytest.raises(RedisClusterException, match="same key slot"):
                await client.sunion([replicas, claiming])
            await client.sadd("gw:{global}:replicas", "r1")
            await client.sadd("gw:{global}:claiming", "r2")
            union = await client.sunion(["gw:{global}:replicas", "gw:{global}:claiming"])
            assert union == {b"r1", b"r2"}
        finally:
            await client.aclose()

    run(test)
    with empty_cluster.client(empty_cluster.node_of(replicas)) as node:
        assert node.smembers(replicas) == {b"r1"}


# ------------------------------------------------------------------ (d) a master down


def test_while_a_master_is_down_the_others_serve_and_a_pipeline_touching_it_raises(
    empty_cluster: LocalCluster,
) -> None:
    keys = tenant_keys(empty_cluster)

    async def test() -> None:
        client = cluster_client(empty_cluster)
        try:
            sha = await client.script_load(COUNT)
            assert await pipeline_of(client, sha, keys).execute() == [1, 1, 1]
            empty_cluster.stop_node(2)

            # Its open connection breaks mid-pipeline: that shard's commands get the error
            # as their value, nothing is raised, the other shards answer.
            results = await pipeline_of(client, sha, keys).execute(raise_on_error=False)
            assert results[:2] == [2, 2]
            assert isinstance(results[2], ConnectionError)

            # Connecting to it is refused: the whole pipeline raises, and the other shards'
            # scripts ran all the same (once), their replies lost to the caller.
            started = time.monotonic()
            with pytest.raises(ConnectionError):
                await pipeline_of(client, sha, keys).execute(raise_on_error=False)
            assert time.monotonic() - started < REDIS_TIMEOUT_S

            # One pipeline per shard keeps the others answering.
            for key in keys[:2]:
                assert await pipeline_of(client, sha, [key]).execute() == [4]
            with pytest.raises(ConnectionError):
                await pipeline_of(client, sha, keys[2:]).execute()
            assert client.get_node_from_key(keys[0]) is not client.get_node_from_key(keys[2])
            with pytest.raises(ConnectionError):
                await client.evalsha(sha, 1, keys[2])
            with pytest.raises(ConnectionError):  # to every primary: one down fails it
                await client.script_load(COUNT)
            node = client.get_node_from_key(keys[0])
            assert isinstance(node, ClusterNode)
            assert await client.execute_command("SCRIPT LOAD", COUNT, target_nodes=node) == sha
        finally:
            await client.aclose()

    run(test)


def test_pipelines_to_the_other_shards_are_not_disturbed_by_those_to_a_down_shard(
    empty_cluster: LocalCluster,
) -> None:
    """Per-shard pipelines sent concurrently, as a courier, heartbeats and status reads
    would: the down shard's fail, the others' all answer. (redis-py 8.1 dropped every
    node's connections on a retry, failing the others with ConnectionError, or with an
    AttributeError, no RedisError, mid-connect: about one in each retry.)"""
    keys = tenant_keys(empty_cluster)
    failed: list[Exception] = []
    collateral: list[BaseException] = []
    answered = [0, 0]

    async def down_shard(client: RedisCluster, sha: str) -> None:
        while len(failed) < 10:
            try:
                await pipeline_of(client, sha, keys[2:]).execute()
            except RedisError as exc:
                failed.append(exc)

    async def up_shard(client: RedisCluster, sha: str, i: int) -> None:
        while len(failed) < 10:
            try:
                (count,) = await pipeline_of(client, sha, [keys[i]]).execute()
                answered[i] = count
            except Exception as exc:
                collateral.append(exc)

    async def test() -> None:
        client = cluster_client(empty_cluster)
        try:
            await ready(client)
            sha = await client.script_load(COUNT)
            empty_cluster.stop_node(2)
            await asyncio.gather(
                down_shard(client, sha), *(up_shard(client, sha, i) for i in (0, 1, 0, 1))
            )
        finally:
            await client.aclose()

    run(test)
    assert {type(exc) for exc in failed} == {ConnectionError}
    assert collateral == []
    assert min(answered) > 1


def test_a_restarted_master_is_found_again_cluster_down_then_noscript_then_served(
    empty_cluster: LocalCluster,
) -> None:
    keys = tenant_keys(empty_cluster)

    async def test() -> None:
        client = cluster_client(empty_cluster)
        try:
            sha = await client.script_load(COUNT)
            assert await pipeline_of(client, sha, keys).execute() == [1, 1, 1]
            empty_cluster.stop_node(1)
            with pytest.raises(ConnectionError):
                await client.evalsha(sha, 1, keys[1])
            empty_cluster.start_node(1, wait=False)  # it refuses writes for ~2 s after a start
            seen: list[type[BaseException]] = []

            async def served_again() -> bool:
                results = await pipeline_of(client, sha, keys).execute(raise_on_error=False)
                assert not isinstance(results[0], Exception)  # the other shards meanwhile
                assert not isinstance(results[2], Exception)
                if isinstance(results[1], Exception):
                    seen.append(type(results[1]))
                    return isinstance(results[1], NoScriptError)
                return False

            await eventually(served_again, 10, 0.05, what=lambda: f"NOSCRIPT, saw {seen}")
            assert set(seen) <= {ClusterDownError, NoScriptError, ConnectionError}
            await client.script_load(COUNT)
            results = await pipeline_of(client, sha, keys).execute()
            assert results[1] == 1  # its data went with it: counted from 0 again
        finally:
            await client.aclose()

    run(test)


def test_a_frozen_master_times_out_within_the_courier_bound_and_answers_once_resumed(
    empty_cluster: LocalCluster,
) -> None:
    keys = tenant_keys(empty_cluster)

    async def test() -> None:
        client = cluster_client(empty_cluster)
        try:
            sha = await client.script_load(COUNT)
            assert await pipeline_of(client, sha, keys).execute() == [1, 1, 1]
            empty_cluster.pause_node(2)
            started = time.monotonic()
            results = await pipeline_of(client, sha, keys).execute(raise_on_error=False)
            assert isinstance(results[2], TimeoutError)  # a value, not raised
            assert results[:2] == [2, 2]
            assert time.monotonic() - started < 2 * REDIS_TIMEOUT_S
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.evalsha(sha, 1, keys[2])
            assert time.monotonic() - started < 4 * REDIS_TIMEOUT_S  # Courier.answer's bound
            assert await client.evalsha(sha, 1, keys[0]) == 3
            empty_cluster.resume_node(2)
            assert (await pipeline_of(client, sha, keys).execute())[2] >= 2
        finally:
            await client.aclose()

    run(test)
