"""SQLite files are created at start, not migrated: a file from an older release still opens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from gateway.db import make_engine

# One row as an older release wrote it (its NOT NULL columns).
OLD_ROW: dict[str, Any] = {
    "request_id": "req_old", "attempt": 1, "ts": "2026-01-01 00:00:00", "tenant": "t",
    "endpoint": "responses", "requested_model": "m", "status": 200, "outcome": "completed",
    "input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0, "reasoning_tokens": 0,
    "audio_input_tokens": 0, "cached_audio_input_tokens": 0, "audio_output_tokens": 0,
    "image_input_tokens": 0, "tool_calls": "{}", "cost_nanos": 0, "latency_ms": 0,
    "estimated": 0, "unpriced": 0, "stream": 0, "background": 0,
}  # fmt: skip


@contextmanager
def reopened_without(tmp_path: Path, column: str) -> Iterator[Engine]:
    """A ledger file from before ``column`` existed, holding one row, opened by this release."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_engine(url).dispose()
    old = create_engine(url)
    row = {name: value for name, value in OLD_ROW.items() if name != column}
    with old.begin() as conn:
        conn.execute(text(f"ALTER TABLE ledger DROP COLUMN {column}"))
        names, params = ", ".join(row), ", ".join(f":{name}" for name in row)
        conn.execute(text(f"INSERT INTO ledger ({names}) VALUES ({params})"), row)
    old.dispose()
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_ledger_from_before_the_background_column_gets_it_with_old_rows_kept(
    tmp_path: Path,
) -> None:
    with reopened_without(tmp_path, "background") as engine:  # before migration 0005
        columns = {c["name"]: c for c in inspect(engine).get_columns("ledger")}
        assert columns["background"]["nullable"] is False
        with engine.connect() as conn:
            row = conn.execute(text("SELECT request_id, background FROM ledger")).one()
        assert tuple(row) == ("req_old", 0)


def test_a_ledger_from_before_the_tags_column_gets_it_with_old_rows_untagged(
    tmp_path: Path,
) -> None:
    with reopened_without(tmp_path, "tags") as engine:  # before migration 0006
        columns = {c["name"]: c for c in inspect(engine).get_columns("ledger")}
        assert columns["tags"]["nullable"] is True
        with engine.connect() as conn:
            row = conn.execute(text("SELECT request_id, tags FROM ledger")).one()
        assert tuple(row) == ("req_old", None)


def test_a_ledger_from_before_the_service_column_gets_it_with_old_rows_without_one(
    tmp_path: Path,
) -> None:
    with reopened_without(tmp_path, "service") as engine:  # before migration 0007
        columns = {c["name"]: c for c in inspect(engine).get_columns("ledger")}
        assert columns["service"]["nullable"] is True
        with engine.connect() as conn:
            row = conn.execute(text("SELECT request_id, service FROM ledger")).one()
        assert tuple(row) == ("req_old", None)
