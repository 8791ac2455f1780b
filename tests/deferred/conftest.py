"""Deferred-charge fixtures: an engine on a fresh database of each dialect (as the ledger's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from gateway.db import make_engine


@pytest.fixture
def engine(dialect_db_url: str) -> Iterator[Engine]:
    engine = make_engine(dialect_db_url)
    yield engine
    engine.dispose()
