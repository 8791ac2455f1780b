"""Ledger fixtures: an engine on a fresh database of each dialect, and a record builder.

Every test that takes ``engine`` or ``ledger_db_url`` runs twice: on a SQLite file
and on a fresh database of the session's real PostgreSQL server (`pg.PostgresServer`),
migrated the way ``gateway db upgrade`` does it. Without PostgreSQL installed the
second run skips, and fails in CI (`needs.missing`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import gateway.ledger.table  # noqa: F401  (registers the table before make_engine creates tables)
from gateway.db import make_engine
from gateway.ledger import LedgerRecord

MakeRecord = Callable[..., LedgerRecord]


@pytest.fixture
def ledger_db_url(dialect_db_url: str) -> str:
    return dialect_db_url


@pytest.fixture
def engine(ledger_db_url: str) -> Iterator[Engine]:
    engine = make_engine(ledger_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_record() -> MakeRecord:
    """``make_record(request_id="r1", cost_nanos=5, ...)``: a completed call unless told otherwise."""
    counter = iter(range(1_000_000))

    def make(**overrides: Any) -> LedgerRecord:
        fields: dict[str, Any] = {
            "request_id": f"req_{next(counter)}",
            "attempt": 0,
            "ts": datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
            "tenant": "alpha",
            "endpoint": "responses",
            "requested_model": "gpt-5-nano",
            "served_model": "gpt-5-nano-2025-08-07",
            "status": 200,
            "outcome": "completed",
            "input_tokens": 10,
            "output_tokens": 20,
            "cost_nanos": 1000,
            "latency_ms": 12.5,
        }
        fields.update(overrides)
        return LedgerRecord(**fields)

    return make
