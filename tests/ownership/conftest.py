"""Ownership fixtures: a fresh database of each dialect.

Every test that takes ``store_db_url`` runs twice: on a SQLite file and on a fresh
database of the session's real PostgreSQL server (`pg.PostgresServer`), migrated
the way ``gateway db upgrade`` does it. Without PostgreSQL installed the second run
skips, and fails in CI (`needs.missing`).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def store_db_url(dialect_db_url: str) -> str:
    return dialect_db_url
