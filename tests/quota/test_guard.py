"""One gateway per database on the in-memory quota; the second is refused with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pg import PostgresServer

from gateway.db import make_engine
from gateway.quota.guard import SharedStateRequired, SingleInstance


def test_a_second_gateway_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    first = SingleInstance.claim(engine)
    with pytest.raises(SharedStateRequired, match="GATEWAY_REDIS_URL"):
        SingleInstance.claim(make_engine(f"sqlite:///{tmp_path / 'gateway.db'}"))
    SingleInstance.claim(make_engine(f"sqlite:///{tmp_path / 'other.db'}")).release()
    first.release()
    SingleInstance.claim(engine).release()  # the first one stopped: a new one may start


@pytest.mark.slow
def test_a_second_gateway_on_the_same_postgresql_database_is_refused(
    postgres: PostgresServer,
) -> None:
    url = postgres.migrated_database()
    first = SingleInstance.claim(make_engine(url))
    with pytest.raises(SharedStateRequired, match="this PostgreSQL database"):
        SingleInstance.claim(make_engine(url))
    SingleInstance.claim(make_engine(postgres.migrated_database())).release()
    first.release()
    SingleInstance.claim(make_engine(url)).release()
