"""The cache's stores: the in-memory one's LRU byte cap and expiry, the entry's encoding, and
the Redis one against a real Redis (expiry on the cache's clock, the tenant's hash tag)."""

from __future__ import annotations

import asyncio

from redis_server import RedisServer

from gateway.cache.store import Entry, MemoryStore, RedisStore, redis_key
from gateway.quota.shared.connection import connect


def entry(size: int, expires_at: float = 100.0, stream: bool = False) -> Entry:
    return Entry(stream, "gpt-5-nano-2025-08-07", b"x" * size, expires_at)


def test_the_memory_store_evicts_the_least_recently_used_past_its_byte_cap() -> None:
    async def run() -> None:
        store = MemoryStore(lambda: 100)
        await store.put("t", "a", entry(40), 60)
        await store.put("t", "b", entry(40), 60)
        assert await store.get("t", "a", 0) is not None  # a is now the most recent
        await store.put("t", "c", entry(40), 60)
        assert await store.get("t", "b", 0) is None
        assert await store.get("t", "a", 0) == entry(40)
        assert await store.get("t", "c", 0) is not None
        assert store.held_bytes == 80
        await store.put("t", "huge", entry(101), 60)  # larger than the whole cap: not kept
        assert await store.get("t", "huge", 0) is None
        assert store.held_bytes == 80
        await store.put("t", "a", entry(10), 60)  # replaced, counted once
        assert store.held_bytes == 50

    asyncio.run(run())


def test_the_memory_store_forgets_an_expired_entry_and_its_bytes() -> None:
    async def run() -> None:
        store = MemoryStore(lambda: 1000)
        await store.put("t", "k", entry(10, expires_at=50.0), 60)
        assert await store.get("t", "k", 49.9) is not None
        assert await store.get("t", "k", 50.0) is None
        assert store.held_bytes == 0
        await store.put("u", "k", entry(10), 60)
        assert await store.get("t", "k", 0) is None  # another tenant's entry under the same key

    asyncio.run(run())


def test_an_entry_survives_its_encoding() -> None:
    stream = Entry(True, None, b"event: response.completed\ndata: {}\n\n" * 50, 12.5)
    assert Entry.decode(stream.encode()) == stream
    assert len(stream.encode()) < len(stream.body)  # compressed
    assert Entry.decode(entry(3).encode()) == entry(3)


def test_the_redis_store_keeps_entries_by_tenant_with_a_ttl(redis: RedisServer) -> None:
    async def run() -> None:
        client = connect(redis.url)
        store = RedisStore(client)
        await store.put("acme", "k1", entry(300, expires_at=1060.0), 60)
        assert await store.get("acme", "k1", 1059.0) == entry(300, expires_at=1060.0)
        assert await store.get("acme", "k1", 1060.0) is None  # expired on the cache's clock
        assert await store.get("other", "k1", 0) is None
        assert redis_key("acme", "k1") == "gw:cache:{acme}:k1"
        assert 0 < await client.ttl(redis_key("acme", "k1")) <= 60
        assert store.held_bytes == 0
        await store.aclose()

    asyncio.run(run())


def test_a_redis_store_that_is_down_is_a_miss_and_is_left_alone_for_a_pause(
    redis: RedisServer,
) -> None:
    async def run() -> None:
        clock = [0.0]
        store = RedisStore(connect(redis.url), monotonic=lambda: clock[0])
        redis.stop()
        await store.put("acme", "k", entry(10), 60)  # fails: pauses the store
        redis.start()
        await store.put("acme", "k", entry(10), 60)  # paused: not written
        assert await store.get("acme", "k", 0) is None
        clock[0] += RedisStore.PAUSE_S
        assert await store.get("acme", "k", 0) is None  # tried again: nothing was written
        await store.put("acme", "k", entry(10), 60)
        assert await store.get("acme", "k", 0) == entry(10)
        await store.aclose()

    asyncio.run(run())
