"""OwnershipStore: every kind of object owned by its tenant, seen at once by every replica.

Each test runs on SQLite and on PostgreSQL (`store_db_url`). A replica is a store with
its own engine on the shared database. Writers are not started unless a test says so:
a batched record stays in its replica's queue until that replica flushes, which is
exactly the window another replica must wait out. The settle wait is a `Sleeper`: it
takes no time and runs what happens meanwhile elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from poll import eventually
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from gateway.db import make_engine
from gateway.ownership import Owned, OwnershipStore
from gateway.ownership.sql import Change, write
from gateway.ownership.store import SETTLE_MARGIN_S


class Sleeper:
    """The settle wait without the time: records each wait, then runs ``during``."""

    def __init__(self, during: Callable[[], Awaitable[None]] | None = None) -> None:
        self.waits: list[float] = []
        self.during = during

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.during is not None:
            await self.during()


class Cluster:
    """Replicas of one deployment: stores on one database, each with its own engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engines: list[Engine] = []
        self.stores: list[OwnershipStore] = []
        self.engine_of: dict[int, Engine] = {}

    def replica(
        self, *, sleep: Sleeper | None = None, flush_interval_s: float = 0.05
    ) -> OwnershipStore:
        engine = make_engine(self.url)
        store = OwnershipStore(engine, flush_interval_s=flush_interval_s, sleep=sleep or Sleeper())
        self.engines.append(engine)
        self.stores.append(store)
        self.engine_of[id(store)] = engine
        return store

    def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        async def with_cleanup() -> None:
            try:
                await scenario()
            finally:
                for store in self.stores:
                    await store.aclose()
                self.stores = []

        asyncio.run(with_cleanup())

    def rows(self) -> list[tuple[str, str, str]]:
        """(object_id, kind, tenant) of every record in the database."""
        engine = self.engines[0] if self.engines else make_engine(self.url)
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT object_id, kind, tenant FROM object_owner ORDER BY object_id")
            ).all()
        return [(r[0], r[1], r[2]) for r in found]

    def selects(self, store: OwnershipStore) -> list[int]:
        """The number of parameters of each ownership query ``store`` makes from now on."""
        asked: list[int] = []

        def seen(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT") and "object_owner" in statement:
                asked.append(len(params))

        event.listen(self.engine_of[id(store)], "before_cursor_execute", seen)
        return asked

    def hold_first_select(self, store: OwnershipStore) -> tuple[threading.Event, threading.Event]:
        """Stops ``store``'s next ownership query after it has read, until released:
        (reached, release)."""
        reached, release = threading.Event(), threading.Event()

        def hold(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if "object_owner" in statement and not reached.is_set():
                reached.set()
                release.wait(10)

        event.listen(self.engine_of[id(store)], "after_cursor_execute", hold)
        return reached, release

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def cluster(store_db_url: str) -> Iterator[Cluster]:
    replicas = Cluster(store_db_url)
    yield replicas
    replicas.dispose()


async def never(*_: object) -> None:
    raise AssertionError("no settle wait for an id written through")


# --- one replica: records, durability, forgetting --------------------------------------


def test_records_are_visible_at_once_and_durable_after_close(cluster: Cluster) -> None:
    async def first_life() -> None:
        store = cluster.replica()
        await store.start()
        store.record("resp_a", "alpha")
        assert await store.owner_of("resp_a") == "alpha"
        assert await store.owned_by("resp_a", "alpha")
        assert not await store.owned_by("resp_a", "beta")
        await store.aclose()

    async def second_life() -> None:
        sleeper = Sleeper()
        store = cluster.replica(sleep=sleeper)
        assert await store.owner_of("resp_a") == "alpha"
        assert sleeper.waits == [], "a recorded id is found by the first query"
        assert await store.owner_of("resp_never") is None
        assert sleeper.waits == [store.settle_s], "an unknown id: one wait, a second query"

    cluster.run(first_life)
    cluster.run(second_life)
    assert cluster.rows() == [("resp_a", "response", "alpha")], "kind defaults to response"


def test_forget_removes_the_record(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        await store.start()
        store.record("resp_b", "alpha")
        await store.flush()
        store.forget("resp_b")
        assert await store.owner_of("resp_b") is None
        await store.aclose()
        assert await cluster.replica().owner_of("resp_b") is None

    cluster.run(scenario)
    assert cluster.rows() == []


def test_background_writer_flushes_without_close(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica(flush_interval_s=0.01)
        await store.start()
        store.record("resp_c", "beta")
        other = cluster.replica()

        async def seen() -> bool:
            return await other.owner_of("resp_c") == "beta"

        await eventually(seen, 2, 0.01, what="the record, read by another store")

    cluster.run(scenario)


def test_a_forgotten_id_is_not_brought_back_by_its_row_still_in_the_database(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        store.record("resp_d", "alpha")
        await store.flush()
        store.forget("resp_d")  # the deletion is queued, the row still there
        asked = cluster.selects(store)
        assert await store.owner_of("resp_d") is None
        assert await store.owners_of(["resp_d"]) == {}
        assert asked == [], "answered from memory, not from the row about to go"
        assert await cluster.replica().owner_of("resp_d") == "alpha", "not written yet"
        await store.flush()
        assert await cluster.replica().owner_of("resp_d") is None

    cluster.run(scenario)


def test_a_lookup_under_way_does_not_bring_back_an_id_forgotten_meanwhile(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        writer = cluster.replica()
        writer.record("resp_e", "alpha")
        await writer.flush()
        store = cluster.replica()
        reached, release = cluster.hold_first_select(store)
        lookup = asyncio.create_task(store.owner_of("resp_e", settle=False))
        assert await asyncio.to_thread(reached.wait, 10), "the query read the row"
        store.forget("resp_e")
        await store.flush()  # deleted while the lookup still holds what it read
        release.set()
        assert await lookup is None
        assert await store.owner_of("resp_e", settle=False) is None, "and not cached"

    cluster.run(scenario)


def test_forgotten_ids_are_let_go_once_their_deletion_is_written(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        for i in range(1000):
            store.record(f"resp_{i}", "alpha")
        await store.flush()
        for i in range(1000):
            store.forget(f"resp_{i}")
        assert len(store._forgotten) == 1000, "kept while the deletions are queued"
        await store.flush()
        assert store._forgotten == {}, "no memory kept for deletions the database has"
        assert await store.owner_of("resp_7", settle=False) is None

    cluster.run(scenario)


def test_an_id_recorded_again_after_forget_has_its_new_owner(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        store.record("conv_1", "alpha", "conversation")
        await store.flush()
        store.forget("conv_1")
        store.record("conv_1", "beta", "conversation")  # same batch as the deletion
        assert await store.owner_of("conv_1") == "beta"
        await store.flush()
        assert await cluster.replica().owner_of("conv_1") == "beta"

    cluster.run(scenario)
    assert cluster.rows() == [("conv_1", "conversation", "beta")]


def test_a_second_record_does_not_take_an_id_over(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        await store.record_now("batch_1", "alpha", "batch")
        other = cluster.replica()
        await other.record_now("batch_1", "beta", "batch")
        assert await cluster.replica().owner_of("batch_1") == "alpha"

    cluster.run(scenario)


def test_record_refuses_an_id_longer_than_the_column(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        with pytest.raises(ValueError, match="128"):
            store.record("file-" + "x" * 124, "alpha", "file")
        await store.flush()

    cluster.run(scenario)
    assert cluster.rows() == [], "nothing queued that would fail its batch"


def test_record_all_records_a_responses_items_and_skips_an_unstorable_id(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        await store.start()
        store.record_all(["rs_1", "msg_1", "msg_" + "x" * 130], "alpha", "item")
        assert await store.owners_of(["rs_1", "msg_1"]) == {"rs_1": "alpha", "msg_1": "alpha"}
        await store.flush()

    cluster.run(scenario)
    assert cluster.rows() == [("msg_1", "item", "alpha"), ("rs_1", "item", "alpha")]


def test_write_through_after_close_raises(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        await store.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await store.record_now("file-late", "alpha", "file")
        with pytest.raises(RuntimeError, match="closed"):
            await store.forget_now("file-late")

    cluster.run(scenario)


# --- two replicas: read-your-writes ---------------------------------------------------


def test_record_now_is_in_the_database_when_it_returns(cluster: Cluster) -> None:
    async def scenario() -> None:
        sleeper = Sleeper()
        created, used = cluster.replica(), cluster.replica(sleep=sleeper)
        await created.record_now("file-1", "alpha", "file")
        assert cluster.rows() == [("file-1", "file", "alpha")]
        assert await used.owned_by("file-1", "alpha")
        assert sleeper.waits == [], "found by the first query"
        assert not await used.owned_by("file-1", "beta")
        assert sleeper.waits == [used.settle_s], "another tenant's id: the wait an unknown one has"

    cluster.run(scenario)


def test_record_now_writes_the_changes_queued_before_it_first(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        store.record("resp_f", "alpha")
        store.record("vs_1", "alpha", "vector_store")
        await store.forget_now("vs_1")  # after the batched record of the same id
        assert cluster.rows() == [("resp_f", "response", "alpha")]
        await store.record_now("upload_1", "beta", "upload")
        await store.flush()
        assert cluster.rows() == [("resp_f", "response", "alpha"), ("upload_1", "upload", "beta")]

    cluster.run(scenario)


def test_forget_now_is_out_of_the_database_when_it_returns(cluster: Cluster) -> None:
    async def scenario() -> None:
        created = cluster.replica()
        await created.record_now("vs_2", "alpha", "vector_store")
        assert await cluster.replica().owner_of("vs_2") == "alpha"
        await created.forget_now("vs_2")
        assert cluster.rows() == []
        sleeper = Sleeper()
        assert await cluster.replica(sleep=sleeper).owner_of("vs_2") is None
        assert sleeper.waits == [created.settle_s]

    cluster.run(scenario)


def test_a_batched_record_is_found_through_another_replica_after_one_wait(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        created = cluster.replica()
        sleeper = Sleeper(during=created.flush)  # the creating replica's batch goes out
        used = cluster.replica(sleep=sleeper)
        created.record("resp_g", "alpha")
        assert await used.owner_of("resp_g") == "alpha"
        assert sleeper.waits == [0.05 + SETTLE_MARGIN_S], "the flush interval and a margin"
        assert await used.owned_by("resp_g", "alpha")
        assert sleeper.waits == [0.05 + SETTLE_MARGIN_S], "then known: no second wait"

    cluster.run(scenario)


def test_without_settle_a_miss_answers_at_once(cluster: Cluster) -> None:
    async def scenario() -> None:
        created = cluster.replica()
        used = cluster.replica(sleep=Sleeper(during=never))
        created.record("resp_h", "alpha")
        assert await used.owner_of("resp_h", settle=False) is None
        assert await used.owners_of(["resp_h"], settle=False) == {}

    cluster.run(scenario)


# --- many ids at once -----------------------------------------------------------------


def test_owners_of_asks_once_for_every_id_memory_does_not_answer(cluster: Cluster) -> None:
    ids = [f"file-{i:03}" for i in range(100)]
    owner = {oid: "alpha" if i % 2 == 0 else "beta" for i, oid in enumerate(ids)}

    async def scenario() -> None:
        created = cluster.replica()
        for oid in ids:
            created.record(oid, owner[oid], "file")
        await created.flush()
        sleeper = Sleeper()
        store = cluster.replica(sleep=sleeper)
        store.record("file-local", "gamma", "file")  # in memory only
        store.forget(ids[1])  # its deletion queued
        asked = cluster.selects(store)
        found = await store.owners_of([*ids, "file-local", "file-nobody", ids[5]])
        expected = {oid: owner[oid] for oid in ids if oid != ids[1]} | {"file-local": "gamma"}
        assert found == expected
        assert asked == [100, 1], "99 stored ids and the unknown one; the unknown one again"
        assert sleeper.waits == [store.settle_s]
        assert await store.owners_of(ids[:50]) == {
            oid: owner[oid] for oid in ids[:50] if oid != ids[1]
        }
        assert asked == [100, 1], "the second time, all from memory"
        assert sleeper.waits == [store.settle_s]

    cluster.run(scenario)


def test_owners_of_finds_another_replicas_batch_after_one_wait(cluster: Cluster) -> None:
    async def scenario() -> None:
        created = cluster.replica()
        sleeper = Sleeper(during=created.flush)
        used = cluster.replica(sleep=sleeper)
        created.record("msg_1", "alpha", "item")
        created.record("fc_1", "beta", "item")
        found = await used.owners_of(["msg_1", "fc_1", "rs_unknown"])
        assert found == {"msg_1": "alpha", "fc_1": "beta"}
        assert sleeper.waits == [used.settle_s]

    cluster.run(scenario)


# --- kinds and listing ----------------------------------------------------------------


def test_the_kind_is_stored_and_a_tenants_objects_of_a_kind_are_listed(cluster: Cluster) -> None:
    async def scenario() -> None:
        store = cluster.replica()
        store.record("resp_1", "alpha")
        for oid in ("file-1", "file-2", "file-3"):
            await store.record_now(oid, "alpha", "file")
        await store.record_now("vs_1", "alpha", "vector_store")
        await store.record_now("file-b", "beta", "file")
        store.record("file-4", "alpha", "file")  # batched: listing writes it first
        first = await store.owned_ids("alpha", "file", limit=3)
        second = await store.owned_ids("alpha", "file", limit=3, after=first[-1])
        newest_first = first + second
        assert sorted(o.object_id for o in newest_first) == ["file-1", "file-2", "file-3", "file-4"]
        keys = [(o.created_at, o.object_id) for o in newest_first]
        assert keys == sorted(keys, reverse=True)
        assert all(o.created_at.tzinfo is not None for o in newest_first)
        oldest_first = await store.owned_ids("alpha", "file", limit=10, newest_first=False)
        assert oldest_first == newest_first[::-1]
        last = oldest_first[-1]
        assert await store.owned_ids("alpha", "file", limit=3, after=last, newest_first=False) == []
        assert await store.owned_ids("beta", "vector_store", limit=10) == []

    cluster.run(scenario)
    assert cluster.rows() == [
        ("file-1", "file", "alpha"),
        ("file-2", "file", "alpha"),
        ("file-3", "file", "alpha"),
        ("file-4", "file", "alpha"),
        ("file-b", "file", "beta"),
        ("resp_1", "response", "alpha"),
        ("vs_1", "vector_store", "alpha"),
    ]


def test_listing_pages_objects_created_at_the_same_instant(cluster: Cluster) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    async def scenario() -> None:
        store = cluster.replica()
        write(
            cluster.engine_of[id(store)],
            [Change(f"cfile_{i}", "container_file", "alpha", at) for i in range(5)],
        )
        pages: list[list[str]] = []
        after: Owned | None = None
        while page := await store.owned_ids(
            "alpha", "container_file", limit=2, after=after, newest_first=False
        ):
            pages.append([o.object_id for o in page])
            after = page[-1]
        assert pages == [["cfile_0", "cfile_1"], ["cfile_2", "cfile_3"], ["cfile_4"]]
        assert after is not None
        assert after.created_at == at

    cluster.run(scenario)
