"""SQLite's WAL checkpoints run in the ledger's own thread, never inside a commit on the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from gateway.db import WAL_BACKSTOP_PAGES, make_engine
from gateway.ledger import Ledger, LedgerRecord
from gateway.ledger.checkpoint import Checkpointer, wal_checkpoint

MakeRecord = Callable[..., LedgerRecord]  # the make_record fixture


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording:
    """A checkpoint that notes the thread it ran in; it can be held until released."""

    def __init__(self, hold: bool = False) -> None:
        self.threads: list[str] = []
        self.ran = threading.Semaphore(0)
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, engine: Engine) -> None:
        self.threads.append(threading.current_thread().name)
        self.ran.release()
        assert self.release.wait(timeout=10)

    def wait_for_run(self) -> None:
        assert self.ran.acquire(timeout=10), "no checkpoint ran"


def _sqlite(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")


def test_checkpoints_run_in_their_own_thread_at_most_once_per_interval(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    engine, clock, checkpoint = _sqlite(tmp_path), FakeClock(), Recording()

    async def scenario() -> None:
        checkpointer = Checkpointer(engine, interval_s=5.0, clock=clock, checkpoint=checkpoint)
        ledger = Ledger(engine, checkpointer=checkpointer)
        ledger.record(make_record())
        await ledger.flush()
        checkpoint.wait_for_run()
        ledger.record(make_record())
        await ledger.flush()  # within the interval: no second checkpoint
        clock.now += 5.0
        ledger.record(make_record())
        await ledger.flush()
        checkpoint.wait_for_run()
        await ledger.aclose()

    asyncio.run(scenario())
    engine.dispose()
    assert len(checkpoint.threads) == 2
    assert all(name.startswith("ledger-checkpoint") for name in checkpoint.threads)


def test_a_checkpoint_under_way_is_not_started_again_and_close_waits_for_it(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    engine, clock, checkpoint = _sqlite(tmp_path), FakeClock(), Recording(hold=True)

    async def scenario() -> None:
        checkpointer = Checkpointer(engine, interval_s=1.0, clock=clock, checkpoint=checkpoint)
        ledger = Ledger(engine, checkpointer=checkpointer)
        ledger.record(make_record())
        await ledger.flush()  # returns while the checkpoint is still running
        checkpoint.wait_for_run()
        clock.now += 10.0
        ledger.record(make_record())
        await ledger.flush()
        assert len(checkpoint.threads) == 1
        closing = asyncio.create_task(ledger.aclose())
        await asyncio.sleep(0)  # let aclose reach the wait for the checkpoint
        assert not closing.done()
        checkpoint.release.set()
        await closing

    asyncio.run(scenario())
    engine.dispose()
    assert len(checkpoint.threads) == 1


def test_only_a_sqlite_ledger_checkpoints(engine: Engine, make_record: MakeRecord) -> None:
    checkpoint = Recording()

    async def scenario() -> None:
        ledger = Ledger(engine, checkpointer=Checkpointer(engine, checkpoint=checkpoint))
        ledger.record(make_record())
        await ledger.flush()
        await ledger.aclose()

    asyncio.run(scenario())
    assert len(checkpoint.threads) == (1 if engine.dialect.name == "sqlite" else 0)


def test_a_commit_checkpoints_only_as_a_backstop(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    engine.dispose()
    assert pages == WAL_BACKSTOP_PAGES == 20_000  # SQLite's default is 1,000


def test_wal_checkpoint_moves_the_log_into_the_database_file(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    engine = _sqlite(tmp_path)

    async def scenario() -> None:
        ledger = Ledger(engine, checkpointer=Checkpointer(engine, checkpoint=lambda _: None))
        for _ in range(50):
            ledger.record(make_record())
        await ledger.flush()
        await ledger.aclose()

    asyncio.run(scenario())
    busy, frames, done = wal_checkpoint(engine)
    engine.dispose()
    assert busy == 0
    assert frames > 0
    assert done == frames
