"""Storage-meter fixtures: a database of each dialect, a gateway's services on the fake upstream.

Every test that takes ``storage_db_url`` runs twice: on a SQLite file and on a fresh
database of the session's real PostgreSQL server, migrated the way ``gateway db
upgrade`` does it (the PostgreSQL run is marked slow; it skips without PostgreSQL and
fails in CI, as `needs.missing` says).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def storage_db_url(dialect_db_url: str) -> str:
    return dialect_db_url
