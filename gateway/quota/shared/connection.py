"""The quota's Redis client, from ``GATEWAY_REDIS_URL``: one server, or a Redis Cluster.

``redis://``, ``rediss://`` and ``unix://`` name one server. ``redis-cluster://``
and ``rediss-cluster://`` name one seed node of a Redis Cluster (host:port, with
an optional password); the client finds the other masters and which slots each
serves, and follows the cluster when slots move.

Both clients wait at most ``REDIS_TIMEOUT_S`` per connection attempt and per
reply, and both pack commands with hiredis. A cluster client retries once
(after re-reading the slot map) before it raises, so an outage reaches the
caller within about two timeouts instead of redis-py's default ten retries.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

REDIS_TIMEOUT_S = 1.0  # longest a request waits on Redis before its tenant's when_store_down
CLUSTER_SCHEMES = {"redis-cluster": "redis", "rediss-cluster": "rediss"}
CLUSTER_RETRIES = 1  # after a connection error or timeout: re-read the slot map, try once more
NODE_CONNECTIONS = 64  # per cluster node; a cluster node's pool fails rather than waits when full

Client = aioredis.Redis | RedisCluster


def connect(url: str) -> Client:
    scheme = urlsplit(url).scheme
    if scheme in CLUSTER_SCHEMES:
        return _cluster(urlunsplit(urlsplit(url)._replace(scheme=CLUSTER_SCHEMES[scheme])))
    return _single(url)


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


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
    client = RedisCluster.from_url(
        url,
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
    return client


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
