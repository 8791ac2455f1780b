"""The ledger writer: records from the request path, inserted in batches off the event loop.

`Ledger.record` is synchronous and only queues (see `gateway.batching`); a
worker thread inserts each batch with one executemany-style
``INSERT ... ON CONFLICT (request_id, attempt) DO NOTHING`` (on PostgreSQL, a COPY
and one such INSERT from it), so a batch that is retried, or an attempt recorded
twice, still leaves one row per attempt.

Crash-loss window: a record lives only in memory until its batch commits. A
crash (SIGKILL, power loss) loses at most the records of the last
``flush_interval_s`` (0.2 s by default) plus the batch being written at that
moment, and, while the database is failing, everything kept for retry. A
graceful shutdown (`aclose`) writes all of them (invariant 8). On SQLite
(``synchronous=NORMAL``) a commit reaches the disk at the next checkpoint, so a
power loss, unlike a process crash, may also take what was committed since the
last one: at most ``Checkpointer``'s interval, 10 s (`gateway.ledger.checkpoint`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlalchemy.engine import Engine

from gateway.batching import BatchWriter
from gateway.db import placeholder
from gateway.ledger.checkpoint import Checkpointer
from gateway.ledger.pgcopy import copy_rows
from gateway.ledger.record import COLUMNS, TABLE, LedgerRecord, row_layout


class Ledger:
    def __init__(
        self,
        engine: Engine,
        *,
        flush_interval_s: float = 0.2,
        max_batch: int = 1000,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        """On SQLite, batches are committed on the loop and ``checkpointer`` (at most every
        10 s) moves the log into the database file in its own thread."""
        self._engine = engine
        sqlite = engine.dialect.name == "sqlite"
        self._writer: BatchWriter[LedgerRecord] = BatchWriter(
            self._write,
            name="ledger",
            flush_interval_s=flush_interval_s,
            max_batch=max_batch,
            in_loop=sqlite,
        )
        self._checkpointer = (checkpointer or Checkpointer(engine)) if sqlite else None

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def position(self) -> int:
        """Records ever queued: the last one is committed once `committed` reaches this."""
        return self._writer.added

    @property
    def committed(self) -> int:
        return self._writer.written

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._writer.on_written = callback

    def record(self, rec: LedgerRecord) -> None:
        """Queue one attempt's record; never blocks (call from the event loop)."""
        self._writer.add(rec)

    @property
    def pending(self) -> int:
        return self._writer.pending

    def oldest_pending_age_s(self) -> float | None:
        return self._writer.oldest_pending_age_s()

    async def start(self) -> None:
        await self._writer.start()

    async def flush(self) -> None:
        await self._writer.flush()

    async def aclose(self) -> None:
        """Write what is left and stop; the engine stays open (its owner disposes it)."""
        await self._writer.aclose()
        if self._checkpointer is not None:
            await self._checkpointer.aclose()

    def _write(self, records: list[LedgerRecord]) -> None:
        # Plain tuples: SQLAlchemy Core's per-row parameter processing cost ~20 µs a row,
        # which the benchmark showed on the hot path. SQLite takes one DBAPI executemany;
        # PostgreSQL a COPY (`gateway.ledger.pgcopy`).
        with self._engine.begin() as conn:
            dialect = conn.dialect
            rows = row_layout(dialect).rows(records)
            if dialect.name == "postgresql":
                copy_rows(conn, rows)
            else:
                conn.exec_driver_sql(_insert_sql(dialect.name, dialect.paramstyle), rows)
        if self._checkpointer is not None:
            self._checkpointer.after_write()


@functools.cache
def _insert_sql(dialect: str, paramstyle: str) -> str:
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"the ledger supports sqlite and postgresql, not {dialect}")
    marks = ", ".join([placeholder(paramstyle)] * len(COLUMNS))
    return (  # our own table and column names only: nothing here comes from a request
        f"INSERT INTO {TABLE.name} ({', '.join(COLUMNS)}) VALUES ({marks}) "  # noqa: S608
        "ON CONFLICT (request_id, attempt) DO NOTHING"
    )
