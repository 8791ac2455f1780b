"""Ownership fixtures: a fresh database of each dialect.

Every test that takes ``store_db_url`` runs twice: on a SQLite file and on a fresh
database of the session's real PostgreSQL server (`pg.PostgresServer`), migrated
the way ``gateway db upgrade`` does it. Without PostgreSQL installed the second run
skips, and fails in CI (`needs.missing`).
"""

from __future__ import annotations

import pytest
from pg import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store_db_url(request: pytest.FixtureRequest, db_url: str) -> str:
    if request.param == "sqlite":
        return db_url
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.migrated_database()
