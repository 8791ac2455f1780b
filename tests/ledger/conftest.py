"""Ledger fixtures: an engine on a fresh database, and a record builder.

SQLite files by default. With ``GATEWAY_TEST_POSTGRES_URL`` set (a server URL
such as ``postgresql+psycopg://postgres@/postgres?host=/tmp``), every test
gets a fresh PostgreSQL database instead: the same tests, the other dialect.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

import gateway.ledger.table  # noqa: F401  (registers the table before make_engine creates tables)
from gateway.db import make_engine
from gateway.ledger import LedgerRecord

MakeRecord = Callable[..., LedgerRecord]


@pytest.fixture
def ledger_db_url(db_url: str) -> Iterator[str]:
    server = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    if not server:
        yield db_url
        return
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


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
