"""SQLite's WAL checkpoints, in a thread of their own instead of inside a commit on the loop.

By default SQLite checkpoints inside whichever commit takes the write-ahead log
past 1,000 pages: that commit copies the pages into the database file and
fsyncs the log and the file, and the next commit fsyncs the log's header as it
starts the log over. The ledger commits on the event loop (a writer thread costs
more CPU, bench/README.md decision 3), so every request in flight waited for
those fsyncs: with each fsync 0.3 s slower (a slow disk, simulated by
``bench/scale.py --slow-fsync-ms 300``) the p99 went from ~35 ms to 600-750 ms.

So `gateway.db` raises the automatic checkpoint to a backstop (20,000 pages),
and the ledger asks for a PASSIVE checkpoint here, in its own thread, after a
batch, at most every ``interval_s``. PASSIVE copies what it can without waiting
for readers or writers, and a commit never waits for it. What stays on the loop
is the one header fsync when a commit starts the log over after a complete
checkpoint: at most once per interval, hence 10 s rather than 1 (on a slow disk,
one stall per 10 s touches the requests in flight then, well under 1%).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def wal_checkpoint(engine: Engine) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (1 if it could not finish, log frames, frames checkpointed)."""
    with engine.connect() as conn:
        busy, frames, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(busy), int(frames), int(done)


class Checkpointer:
    """Runs `checkpoint(engine)` in its own thread, at most once per ``interval_s``."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        checkpoint: Callable[[Engine], object] = wal_checkpoint,
    ) -> None:
        self._engine = engine
        self._interval = interval_s
        self._clock = clock
        self._checkpoint = checkpoint
        self._last = -math.inf
        self._running: Future[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-checkpoint")

    def after_write(self) -> None:
        """Called on the loop after a batch is committed; never waits."""
        if self._running is not None and not self._running.done():
            return
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        self._running = self._pool.submit(self._run)

    def _run(self) -> None:
        try:
            self._checkpoint(self._engine)
        except Exception:  # the next one retries; the log only grows meanwhile
            log.exception("ledger: SQLite checkpoint failed")

    async def aclose(self) -> None:
        """Wait for a checkpoint under way, then stop the thread."""
        if self._running is not None:
            await asyncio.wrap_future(self._running)
        self._pool.shutdown(wait=True)
