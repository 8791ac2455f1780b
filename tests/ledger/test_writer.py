"""Ledger writer: rows land after a flush, once per attempt, and survive a new engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from pg import PostgresServer
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Engine

from gateway.db import make_engine
from gateway.ledger import COLUMNS, Ledger, LedgerEntry, LedgerRecord, row_layout
from gateway.ledger.pgcopy import copy_rows
from gateway.ledger.record import as_utc

T = LedgerEntry.__table__  # type: ignore[attr-defined]
MakeRecord = Callable[..., LedgerRecord]  # the make_record fixture


def rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(T).order_by(T.c.id))]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(T)).scalar_one())


def test_rows_are_written_after_flush(engine: Engine, make_record: MakeRecord) -> None:
    rec = make_record(
        request_id="req_full",
        attempt=1,
        subject="svc-search",
        service="search",
        tags="env=prod,feature=chat",
        route="cheap",
        session_id="sess_1",
        response_id="resp_1",
        cached_input_tokens=3,
        reasoning_tokens=7,
        audio_input_tokens=1,
        cached_audio_input_tokens=2,
        audio_output_tokens=4,
        image_input_tokens=5,
        tool_calls={"web_search": 2, "file_search": 1},
        ttft_ms=80.0,
        estimated=True,
        unpriced=True,
        stream=True,
        ts=datetime(2025, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=1))),
    )

    async def scenario() -> None:
        ledger = Ledger(engine)
        await ledger.start()
        ledger.record(rec)
        assert ledger.pending == 1
        await ledger.flush()
        assert ledger.pending == 0
        await ledger.aclose()

    asyncio.run(scenario())
    [row] = rows(engine)
    assert row["request_id"] == "req_full"
    assert row["attempt"] == 1
    assert isinstance(row["ts"], datetime)
    assert as_utc(row["ts"]) == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)  # SQLite: naive UTC
    assert row["tool_calls"] == {"web_search": 2, "file_search": 1}
    assert (row["service"], row["tags"]) == ("search", "env=prod,feature=chat")
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT tool_calls FROM ledger").scalar_one()
    assert json.loads(stored) == {"web_search": 2, "file_search": 1}  # JSON text in the table
    expected = dict(zip(COLUMNS, row_layout(engine.dialect).values(rec), strict=True))
    for key in expected.keys() - {"ts", "tool_calls"}:
        assert row[key] == expected[key], key


def test_recording_an_attempt_twice_keeps_one_row(engine: Engine, make_record: MakeRecord) -> None:
    async def scenario() -> None:
        ledger = Ledger(engine)
        ledger.record(make_record(request_id="req_a", attempt=0, cost_nanos=5))
        ledger.record(make_record(request_id="req_a", attempt=0, cost_nanos=5))  # same batch
        await ledger.flush()
        ledger.record(make_record(request_id="req_a", attempt=0, cost_nanos=5))  # later batch
        ledger.record(make_record(request_id="req_a", attempt=1, cost_nanos=7))  # an escalation
        await ledger.aclose()

    asyncio.run(scenario())
    assert [(r["request_id"], r["attempt"], r["cost_nanos"]) for r in rows(engine)] == [
        ("req_a", 0, 5),
        ("req_a", 1, 7),
    ]


def test_unflushed_records_are_only_in_memory(engine: Engine, make_record: MakeRecord) -> None:
    """The crash window: until its batch commits, a record is in memory only.

    A crash then loses at most flush_interval_s of records plus the batch being
    written; a graceful close (what shutdown does) writes them.
    """

    async def scenario() -> None:
        ledger = Ledger(engine, flush_interval_s=60)
        await ledger.start()
        for _ in range(3):
            ledger.record(make_record())
        await asyncio.sleep(0.05)
        assert ledger.pending == 3
        assert count(engine) == 0  # a crash now would lose these three
        await ledger.aclose()

    asyncio.run(scenario())
    assert count(engine) == 3


def test_background_writer_needs_no_flush(engine: Engine, make_record: MakeRecord) -> None:
    async def scenario() -> None:
        ledger = Ledger(engine, flush_interval_s=0.01)
        await ledger.start()
        ledger.record(make_record())
        for _ in range(500):
            if ledger.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert ledger.oldest_pending_age_s() is None
        assert count(engine) == 1
        await ledger.aclose()

    asyncio.run(scenario())


def test_a_new_engine_on_the_same_database_sees_the_rows(
    ledger_db_url: str, make_record: MakeRecord
) -> None:
    async def first_life() -> None:
        engine = make_engine(ledger_db_url)
        ledger = Ledger(engine)
        await ledger.start()
        for i in range(1500):  # more than one batch
            ledger.record(make_record(request_id=f"req_{i}"))
        await ledger.aclose()
        engine.dispose()

    asyncio.run(first_life())
    engine = make_engine(ledger_db_url)
    try:
        assert count(engine) == 1500
    finally:
        engine.dispose()


def test_naive_timestamps_are_utc_and_defaults_fill_in() -> None:
    rec = LedgerRecord(
        request_id="r",
        attempt=0,
        ts=datetime(2025, 1, 1, 0, 0),
        tenant="t" * 200,
        endpoint="realtime",
        requested_model="m",
        status=0,
        outcome="client_gone",
    )
    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    row = dict(zip(COLUMNS, row_layout(dialect).values(rec), strict=True))
    assert row["ts"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert row["tenant"] == "t" * 128  # the column's limit: PostgreSQL would refuse the batch
    assert row["tool_calls"] == "{}"
    assert row["cost_nanos"] == 0
    assert row["estimated"] is False


def test_the_row_layout_names_every_column_of_the_table_once() -> None:
    table_columns = [c.name for c in LedgerEntry.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
    assert sorted(COLUMNS) == sorted(table_columns)
    assert len(set(COLUMNS)) == len(COLUMNS)
    assert list(LedgerRecord.__dataclass_fields__) == list(COLUMNS)


@pytest.mark.slow
def test_a_postgresql_batch_rolled_back_leaves_the_next_one_working(
    postgres: PostgresServer, make_record: MakeRecord
) -> None:
    """The COPY's staging table is created in the batch's transaction: a batch that fails
    takes it with it, and the next batch on the same session makes it again."""
    engine = make_engine(postgres.migrated_database())
    try:
        _copy_after_a_rollback(engine, make_record)
    finally:
        engine.dispose()


def _copy_after_a_rollback(engine: Engine, make_record: MakeRecord) -> None:
    layout = row_layout(engine.dialect)
    bad = list(layout.values(make_record()))
    bad[COLUMNS.index("tenant")] = None  # NOT NULL in the ledger, not in the staging table
    with pytest.raises(psycopg.errors.NotNullViolation), engine.begin() as conn:
        copy_rows(conn, [tuple(bad)])
    with engine.begin() as conn:
        copy_rows(conn, layout.rows([make_record(request_id="req_ok")]))
    assert [r["request_id"] for r in rows(engine)] == ["req_ok"]
