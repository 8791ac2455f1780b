"""Client secrets in a Redis Cluster: any replica takes a secret another minted, once."""

from __future__ import annotations

import asyncio

from redis_cluster import RedisCluster

from gateway.realtime.secrets import RedisClientSecrets


def test_a_single_use_secret_is_taken_once_and_a_reusable_one_until_it_expires(
    empty_cluster: RedisCluster,
) -> None:
    async def test() -> None:
        minting, taking = (
            RedisClientSecrets(empty_cluster.url),
            RedisClientSecrets(empty_cluster.url),
        )
        try:
            once = await minting.mint(
                "t", None, expires_at=200.0, session={}, single_use=True, now=100.0
            )
            many = await minting.mint(
                "t", "s", expires_at=200.0, session={}, single_use=False, now=100.0
            )
            taken = await taking.take(once.value, now=101.0)
            assert taken is not None
            assert taken.tenant == "t"
            assert await taking.take(once.value, now=101.0) is None, "spent"
            for _ in range(2):
                kept = await taking.take(many.value, now=101.0)
                assert kept is not None
                assert kept.subject == "s"
            assert await taking.take(many.value, now=201.0) is None, "expired"
        finally:
            await minting.aclose()
            await taking.aclose()

    asyncio.run(test())
