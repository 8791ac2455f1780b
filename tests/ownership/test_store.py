"""OwnershipStore: visible at once in-process, durable after a flush, forgotten on delete."""

from __future__ import annotations

import asyncio

from poll import eventually

from gateway.db import make_engine
from gateway.ownership import OwnershipStore


def test_records_are_visible_at_once_and_durable_after_close(db_url: str) -> None:
    async def first_life() -> None:
        store = OwnershipStore(make_engine(db_url))
        await store.start()
        store.record("resp_a", "alpha")
        assert await store.owner_of("resp_a") == "alpha"
        assert await store.owned_by("resp_a", "alpha")
        assert not await store.owned_by("resp_a", "beta")
        await store.aclose()

    async def second_life() -> None:
        store = OwnershipStore(make_engine(db_url))
        assert await store.owner_of("resp_a") == "alpha"
        assert await store.owner_of("resp_never") is None

    asyncio.run(first_life())
    asyncio.run(second_life())


def test_forget_removes_the_record(db_url: str) -> None:
    async def scenario() -> None:
        store = OwnershipStore(make_engine(db_url))
        await store.start()
        store.record("resp_b", "alpha")
        await store.flush()
        store.forget("resp_b")
        assert await store.owner_of("resp_b") is None
        await store.aclose()
        assert await OwnershipStore(make_engine(db_url)).owner_of("resp_b") is None

    asyncio.run(scenario())


def test_background_writer_flushes_without_close(db_url: str) -> None:
    async def scenario() -> None:
        store = OwnershipStore(make_engine(db_url), flush_interval_s=0.01)
        await store.start()
        store.record("resp_c", "beta")
        other = OwnershipStore(make_engine(db_url))

        async def seen() -> bool:
            return await other.owner_of("resp_c") == "beta"

        await eventually(seen, 2, 0.01, what="the record, read by another store")
        await store.aclose()

    asyncio.run(scenario())
