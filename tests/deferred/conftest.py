"""Deferred-charge fixtures: an engine on a fresh database of each dialect (as the ledger's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg import PostgresServer
from sqlalchemy.engine import Engine

from gateway.db import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def engine(request: pytest.FixtureRequest, db_url: str) -> Iterator[Engine]:
    url = db_url
    if request.param == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.migrated_database()
    engine = make_engine(url)
    yield engine
    engine.dispose()
