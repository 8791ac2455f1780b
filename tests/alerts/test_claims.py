"""Claims: one sender per notification, a lease that outlives a dead claimer, ``sent`` marks.

The same contract for the process's own store and for Redis (`redis_claims`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis as redis_client
from alerts.fakes import Clock
from poll import eventually
from redis_cluster import RedisCluster
from redis_server import RedisServer

from gateway.alerts.claims import Claims, ClaimState, ClaimsUnavailable, MemoryClaims
from gateway.alerts.redis_claims import RedisClaims

MINE, SENT, HELD = ClaimState.MINE, ClaimState.SENT, ClaimState.HELD


Expire = Callable[[], Awaitable[None]]
Contract = Callable[[Claims, Expire], Coroutine[Any, Any, None]]


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def check(request: pytest.FixtureRequest) -> Iterator[Callable[[Contract], None]]:
    """``check(contract)`` runs ``contract(claims, expire)`` on a fresh store;
    ``expire()`` makes every lease and mark run out."""
    if request.param == "memory":
        clock = Clock()

        async def later() -> None:
            clock.advance(3600)

        yield lambda contract: asyncio.run(contract(MemoryClaims(clock), later))
        return
    sync: redis_client.Redis | redis_client.RedisCluster
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis")
        url, sync = server.url, redis_client.Redis(port=server.port)
    else:  # the keys of a tenant on its shard; the release script routed by its key
        cluster: RedisCluster = request.getfixturevalue("empty_cluster")
        url, sync = cluster.url, redis_client.RedisCluster(host="127.0.0.1", port=cluster.ports[0])

    async def expire() -> None:
        for key in sync.scan_iter("gw:alert:*"):
            sync.pexpire(key, 1)
        await eventually(lambda: not list(sync.scan_iter("gw:alert:*")), 2)

    async def on_redis(contract: Contract) -> None:
        claims = RedisClaims(url)
        try:
            await contract(claims, expire)
        finally:
            await claims.aclose()

    yield lambda contract: asyncio.run(on_redis(contract))
    sync.close()


def test_the_first_claimer_sends_and_the_others_wait(check: Callable[[Contract], None]) -> None:
    async def contract(claims: Claims, expire: Expire) -> None:
        assert await claims.claim("acme", "e1:hook", "replica-a", 60) is MINE
        assert await claims.claim("acme", "e1:hook", "replica-b", 60) is HELD
        assert await claims.claim("acme", "e1:other-hook", "replica-b", 60) is MINE
        assert await claims.claim("zeta", "e1:hook", "replica-b", 60) is MINE  # another tenant

    check(contract)


def test_sent_is_kept_and_seen_by_everyone(check: Callable[[Contract], None]) -> None:
    async def contract(claims: Claims, expire: Expire) -> None:
        assert await claims.claim("acme", "e1:hook", "replica-a", 60) is MINE
        await claims.mark_sent("acme", "e1:hook", 600)
        assert await claims.claim("acme", "e1:hook", "replica-b", 60) is SENT
        assert await claims.claim("acme", "e1:hook", "replica-a", 60) is SENT

    check(contract)


def test_a_lease_that_runs_out_passes_the_notification_on(
    check: Callable[[Contract], None],
) -> None:
    """A claimer that died before delivering: another replica sends it after the lease."""

    async def contract(claims: Claims, expire: Expire) -> None:
        assert await claims.claim("acme", "e1:hook", "dead", 60) is MINE
        await expire()
        assert await claims.claim("acme", "e1:hook", "alive", 60) is MINE

    check(contract)


def test_a_release_frees_only_the_releasers_own_claim(check: Callable[[Contract], None]) -> None:
    async def contract(claims: Claims, expire: Expire) -> None:
        assert await claims.claim("acme", "e1:hook", "a", 60) is MINE
        await claims.release("acme", "e1:hook", "b")  # not b's: nothing happens
        assert await claims.claim("acme", "e1:hook", "b", 60) is HELD
        await claims.release("acme", "e1:hook", "a")
        assert await claims.claim("acme", "e1:hook", "b", 60) is MINE

    check(contract)


def test_redis_keys_are_hash_tagged_by_tenant_and_expire(redis: RedisServer) -> None:
    async def claim_and_mark() -> None:
        claims = RedisClaims(redis.url)
        await claims.claim("acme", "e1:hook", "a", 60)
        await claims.mark_sent("acme", "e2:hook", 600)
        await claims.aclose()

    asyncio.run(claim_and_mark())
    sync = redis_client.Redis(port=redis.port)
    try:
        assert sorted(sync.keys("gw:alert:*")) == [
            b"gw:alert:{acme}:e1:hook",
            b"gw:alert:{acme}:e2:hook",
        ]
        assert 59_000 < sync.pttl("gw:alert:{acme}:e1:hook") <= 60_000
        assert 599_000 < sync.pttl("gw:alert:{acme}:e2:hook") <= 600_000
    finally:
        sync.close()


def test_redis_unreachable_is_claims_unavailable(redis: RedisServer) -> None:
    async def unreachable() -> None:
        claims = RedisClaims(redis.url)
        try:
            with pytest.raises(ClaimsUnavailable):
                await claims.claim("acme", "e1:hook", "a", 60)
            with pytest.raises(ClaimsUnavailable):
                await claims.mark_sent("acme", "e1:hook", 60)
            with pytest.raises(ClaimsUnavailable):
                await claims.release("acme", "e1:hook", "a")
        finally:
            await claims.aclose()

    redis.stop()
    try:
        asyncio.run(unreachable())
    finally:
        redis.start()
