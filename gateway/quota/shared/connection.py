"""The quota's Redis client, from ``GATEWAY_REDIS_URL``: one server, or a Redis Cluster.

``redis://``, ``rediss://`` and ``unix://`` name one server. ``redis-cluster://``
and ``rediss-cluster://`` name seed nodes of a Redis Cluster
(``redis-cluster://[user:password@]host:port[,host:port...]``); the client asks
the first seed that answers which masters serve which slots, and follows the
cluster when slots move. More than one seed lets a replica start while a node is
down: with one seed, nothing works until that node is back (`ready` raises
``RedisClusterUnreachableError``, which is not a ``RedisError``: `STORE_ERRORS`).

Both clients wait at most ``REDIS_TIMEOUT_S`` per connection attempt and per
reply, and both pack commands with hiredis. A cluster client retries once
(after re-reading the slot map) before it raises, so an outage reaches the
caller within about two timeouts instead of redis-py's ten retries.

What a cluster changes for the callers (``tests/quota/test_connection.py``):
``pipe.evalsha`` is refused in a cluster pipeline (``pipe.execute_command("EVALSHA",
...)`` is routed by its first key); a non-transactional pipeline spans shards and
answers in order, but a shard's failure comes back as values (NOSCRIPT, CLUSTERDOWN,
a broken connection, a timeout), or, when that shard cannot be connected to, raised
for the whole pipeline after the other shards ran their commands: so one pipeline
per shard. SCRIPT LOAD goes to every primary and fails while one is down.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import hiredis
import redis.asyncio as aioredis
from redis._parsers.commands import AsyncCommandsParser
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ConnectionError,
    RedisClusterUnreachableError,
    RedisError,
    TimeoutError,
)

REDIS_TIMEOUT_S = 1.0  # longest a request waits on Redis before its tenant's when_store_down
CLUSTER_SCHEMES = {"redis-cluster": "redis", "rediss-cluster": "rediss"}
CLUSTER_RETRIES = 1  # after a connection error or timeout: re-read the slot map, try once more
NODE_CONNECTIONS = 64  # per cluster node; a cluster node's pool fails rather than waits when full

Client = aioredis.Redis | RedisCluster
# What a store outage raises: a cluster none of whose seeds answers raises no RedisError.
STORE_ERRORS = (RedisError, RedisClusterUnreachableError)


def connect(url: str) -> Client:
    return _cluster(url) if is_cluster(url) else _single(url)


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


async def ready(client: Client) -> None:
    """Read a cluster's slot map now (a server client has nothing to read).

    Until a cluster client has read it, redis-py routes a keyed command to a random
    primary (it picks the route before it reads the map): with one master down, the
    first commands of a replica that starts then may fail for tenants on the others.
    Raises like a command would (``RedisClusterException`` when no seed answers).
    """
    if isinstance(client, RedisCluster):
        await client.initialize()


def _single(url: str) -> aioredis.Redis:
    # The courier holds one connection; the heartbeats and status reads take a few
    # more. Blocking: a burst of status reads waits instead of failing like an outage.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=16, timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S,
    )  # fmt: skip
    pool.connection_class = _hiredis_packing(pool.connection_class)
    return aioredis.Redis(connection_pool=pool)


def _cluster(url: str) -> RedisCluster:
    parts = urlsplit(url)
    user, at, hosts = parts.netloc.rpartition("@")
    first, *more = hosts.split(",")
    seeds = [urlsplit(f"//{host}") for host in more]
    client = RedisCluster.from_url(
        urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme], netloc=user + at + first)),
        startup_nodes=[ClusterNode(seed.hostname or "", seed.port or 6379) for seed in seeds],
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        max_connections=NODE_CONNECTIONS,
        retry=Retry(NoBackoff(), CLUSTER_RETRIES),
    )
    # RedisCluster takes no connection class; the one in its connection kwargs is what
    # the nodes it discovers are built with (the kwargs dict is shared with its nodes
    # manager), and the seed nodes were built with it before we could change it.
    packing = _hiredis_packing(client.connection_kwargs["connection_class"])
    client.connection_kwargs["connection_class"] = packing
    for node in client.nodes_manager.startup_nodes.values():
        node.connection_class = packing
    client.commands_parser = _CommandsFromAnyPrimary(client)
    return client


class _CommandsFromAnyPrimary(AsyncCommandsParser):
    """The command table (``COMMAND``, for key positions) from the first primary that answers.

    redis-py asks only its default node, the first primary the seed lists, each time a
    client that never connected initialises: with that one master down, every command
    fails, also for slots the others serve. (A client that was connected moves a failed
    node to the end of its list and gets past it.)
    """

    def __init__(self, client: RedisCluster) -> None:
        super().__init__()
        self._client = client

    async def initialize(self, node: ClusterNode | None = None) -> None:
        primaries = self._client.get_primaries()
        candidates = [node, *(p for p in primaries if p is not node)] if node else primaries
        for i, candidate in enumerate(candidates):
            try:
                await super().initialize(candidate)
                return
            except (ConnectionError, TimeoutError):
                if i == len(candidates) - 1:
                    raise


def _hiredis_packing(base: type[Any]) -> type[Any]:
    """The URL's connection class, packing commands with hiredis (C) instead of Python.

    redis-py's asyncio client packs in Python: about 50 µs of CPU for an admit's
    twenty arguments, the largest cost per call in `bench/metering.py`.
    """

    def pack_command(self: Any, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD": two words on the wire
            args = (*args[0].split(), *args[1:])
        return [hiredis.pack_command(args)]

    return type(f"Hiredis{base.__name__}", (base,), {"pack_command": pack_command})
