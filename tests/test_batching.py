"""BatchWriter: batches, keeps order, loses nothing to a failing write, flushes on close."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest
from poll import eventually

from gateway.batching import BatchWriter


class Sink:
    """A blocking write that records its batches; fails its first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.calls = 0
        self.failures = failures
        self.threads: set[str] = set()

    def __call__(self, items: list[int]) -> None:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.calls <= self.failures:
            raise OSError(f"database down (call {self.calls})")
        self.batches.append(list(items))

    @property
    def written(self) -> list[int]:
        return [i for b in self.batches for i in b]


class Clock:
    """The writer's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(cond: Callable[[], bool]) -> None:
    """The writer's thread finishes a batch a moment after the loop handed it over."""
    await eventually(cond, 5.0, 0.005)


async def turns(n: int = 20) -> None:
    """Let every other task on the loop run a few times; no time passes."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_many_adds_become_few_writes() -> None:
    sink = Sink()

    async def scenario() -> None:
        w = BatchWriter(sink, name="t", flush_interval_s=0.5)
        await w.start()
        for i in range(100):
            w.add(i)
            if i % 10 == 0:
                await asyncio.sleep(0)  # adds spread over several loop turns
        assert w.pending == 100
        # The sink sees the batch in the writer's thread a moment before the loop
        # marks it written.
        await until(lambda: len(sink.written) == 100 and w.pending == 0)
        assert w.oldest_pending_age_s() is None
        await w.aclose()

    asyncio.run(scenario())
    assert sink.batches == [list(range(100))]
    assert sink.threads == {"t-writer_0"}  # the writer's own thread, not asyncio's pool


def test_add_all_queues_in_order_and_counts_each_item() -> None:
    sink = Sink()

    async def scenario() -> None:
        w = BatchWriter(sink, name="t", flush_interval_s=0.5)
        await w.start()
        w.add(0)
        w.add_all([1, 2, 3])
        w.add_all([])
        assert w.pending == 4
        await w.flush()
        assert w.pending == 0
        await w.aclose()

    asyncio.run(scenario())
    assert sink.written == [0, 1, 2, 3]


def test_nothing_is_written_before_the_interval() -> None:
    sink = Sink()
    clock = Clock()
    start = clock.now

    async def scenario() -> None:
        # Written on the loop: a write decided too early would happen within the turns below.
        w = BatchWriter(sink, name="t", flush_interval_s=0.3, in_loop=True, clock=clock)
        await w.start()
        w.add(1)
        await turns()
        clock.now = start + 0.1
        await turns()
        assert sink.calls == 0
        assert w.pending == 1
        assert w.oldest_pending_age_s() == pytest.approx(0.1)
        clock.now = start + 0.3
        await until(lambda: sink.written == [1])  # at the writer's next look
        await w.aclose()

    asyncio.run(scenario())


def test_close_flushes_what_is_pending() -> None:
    sink = Sink()

    async def scenario() -> None:
        w = BatchWriter(sink, name="t", flush_interval_s=60)
        await w.start()
        for i in range(5):
            w.add(i)
        await asyncio.sleep(0.02)  # a window for a wrong early write in the writer's thread
        assert sink.calls == 0
        await w.aclose()
        assert w.pending == 0

    asyncio.run(scenario())
    assert sink.written == [0, 1, 2, 3, 4]


def test_flush_without_start_and_max_batch_respected() -> None:
    sink = Sink()

    async def scenario() -> None:
        w = BatchWriter(sink, name="t", max_batch=10)
        for i in range(35):
            w.add(i)
        await w.flush()
        await w.aclose()

    asyncio.run(scenario())
    assert [len(b) for b in sink.batches] == [10, 10, 10, 5]
    assert sink.written == list(range(35))


def test_a_full_batch_is_written_without_waiting_for_the_interval() -> None:
    sink = Sink()

    async def scenario() -> None:
        w = BatchWriter(sink, name="t", flush_interval_s=60, max_batch=10)
        await w.start()
        for i in range(25):
            w.add(i)
        await until(lambda: len(sink.written) == 20)
        await asyncio.sleep(0.05)  # a window for a wrong early write in the writer's thread
        assert sink.written == list(range(20))  # the last 5 wait for the interval
        assert w.pending == 5
        await w.aclose()

    asyncio.run(scenario())
    assert [len(b) for b in sink.batches] == [10, 10, 5]
    assert sink.written == list(range(25))


def test_a_write_failing_twice_loses_nothing_and_keeps_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink(failures=2)

    async def scenario() -> None:
        w = BatchWriter(sink, name="t", flush_interval_s=0.01)
        await w.start()
        for i in range(10):
            w.add(i)
        await until(lambda: sink.calls >= 1)
        for i in range(10, 20):  # arrive while the first batch is being retried
            w.add(i)
        await until(lambda: len(sink.written) == 20)
        await w.aclose()

    with caplog.at_level(logging.ERROR, logger="gateway.batching"):
        asyncio.run(scenario())
    assert sink.calls >= 3
    assert sink.written == list(range(20))
    failures = [r for r in caplog.records if "write failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info for r in failures)


def test_flush_raises_and_keeps_the_items() -> None:
    sink = Sink(failures=1)

    async def scenario() -> None:
        w = BatchWriter(sink, name="t")
        w.add(1)
        w.add(2)
        with pytest.raises(OSError, match="database down"):
            await w.flush()
        assert w.pending == 2
        await w.flush()
        assert w.pending == 0
        await w.aclose()

    asyncio.run(scenario())
    assert sink.written == [1, 2]


def test_close_logs_loudly_what_it_could_not_write(caplog: pytest.LogCaptureFixture) -> None:
    sink = Sink(failures=1000)

    async def scenario() -> None:
        w = BatchWriter(sink, name="ledger", flush_interval_s=60)
        await w.start()
        for i in range(3):
            w.add(i)
        await w.aclose()  # does not raise
        assert w.pending == 0
        w.add(4)  # after close: lost, and said so
        assert w.pending == 0

    with caplog.at_level(logging.ERROR, logger="gateway.batching"):
        asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert "ledger: final write failed; 3 items LOST" in messages
    assert "ledger: item added after close is lost" in messages


def test_close_waits_for_a_write_in_progress() -> None:
    started = threading.Event()
    release = threading.Event()
    batches: list[list[int]] = []

    def slow_write(items: list[int]) -> None:
        started.set()
        release.wait(5)
        batches.append(items)

    async def scenario() -> None:
        w = BatchWriter(slow_write, name="t", flush_interval_s=0)
        await w.start()
        w.add(1)
        await until(started.is_set)
        w.add(2)
        closing = asyncio.create_task(w.aclose())
        await turns()
        assert not closing.done()
        release.set()
        await closing

    asyncio.run(scenario())
    assert batches == [[1], [2]]  # the batch in progress is neither dropped nor written twice


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        BatchWriter(Sink(), name="t", max_batch=0)
    with pytest.raises(ValueError, match="flush_interval_s"):
        BatchWriter(Sink(), name="t", flush_interval_s=-1)


def test_in_loop_writes_run_on_the_event_loop_thread() -> None:
    sink = Sink()

    async def scenario() -> None:
        w = BatchWriter(sink, name="t", flush_interval_s=0.01, in_loop=True)
        await w.start()
        for i in range(5):
            w.add(i)
        await until(lambda: len(sink.written) == 5)
        await w.aclose()

    asyncio.run(scenario())
    assert sink.batches == [[0, 1, 2, 3, 4]]
    assert sink.threads == {"MainThread"}
