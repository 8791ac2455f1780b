"""Migration 0002: `response_owner` rows become `object_owner` rows of kind 'response'.

Runs on SQLite and PostgreSQL from a database at revision 0001 holding records. A
SQLite file is not migrated by `gateway db upgrade` (its tables are created at start),
so `make_engine` moves its records over itself; that is tested here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pg import PostgresServer
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from gateway.db import current_revision, db_timestamp, head_revision, make_engine, upgrade
from gateway.ownership import OwnershipStore

AT = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
LEGACY = [
    {"response_id": "resp_a1", "tenant": "alpha", "created_at": AT},
    {"response_id": "resp_a2", "tenant": "alpha", "created_at": AT + timedelta(seconds=1)},
    {"response_id": "resp_b1", "tenant": "beta", "created_at": AT + timedelta(seconds=2)},
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A plain engine on a database at revision 0001 holding three response records
    (not `make_engine`, which would create SQLite's tables at the head revision)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.new_database()
    engine = sa.create_engine(url)
    migrate(engine, "0001")
    with engine.begin() as conn:
        legacy = sa.Table("response_owner", sa.MetaData(), autoload_with=conn)
        conn.execute(legacy.insert(), LEGACY)
    yield engine
    engine.dispose()


def migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", "gateway:migrations")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)


def owners(engine: Engine) -> list[tuple[str, str, str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT object_id, kind, tenant, created_at FROM object_owner ORDER BY object_id"
            )
        ).all()
    return [(r[0], r[1], r[2], as_utc(r[3])) for r in rows]


def as_utc(at: datetime | str) -> datetime:
    """PostgreSQL gives timestamptz; SQLite the naive UTC text SQLAlchemy stored."""
    parsed = datetime.fromisoformat(at) if isinstance(at, str) else at
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


EXPECTED = [(r["response_id"], "response", r["tenant"], r["created_at"]) for r in LEGACY]


def test_upgrade_from_0001_moves_every_response_record(old_engine: Engine) -> None:
    assert current_revision(old_engine) == "0001"
    assert upgrade(old_engine) == ("0001", head_revision())
    assert owners(old_engine) == EXPECTED
    assert not sa.inspect(old_engine).has_table("response_owner")
    with old_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    if old_engine.dialect.name == "postgresql":  # SQLite's schema is made by create_all
        assert diff == [], "the migrations and the models agree"

    async def lookups() -> None:
        store = OwnershipStore(old_engine)
        assert await store.owner_of("resp_b1") == "beta"
        assert await store.owners_of(["resp_a1", "resp_a2"], settle=False) == {
            "resp_a1": "alpha",
            "resp_a2": "alpha",
        }
        await store.aclose()

    asyncio.run(lookups())


def test_downgrade_to_0001_keeps_the_response_records_only(old_engine: Engine) -> None:
    upgrade(old_engine)
    with old_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO object_owner (object_id, kind, tenant, created_at) "
                "VALUES ('file-1', 'file', 'alpha', :at)"
            ),
            {"at": db_timestamp(AT, old_engine.dialect.name == "sqlite")},
        )
    migrate(old_engine, "0001", down=True)
    assert current_revision(old_engine) == "0001"
    with old_engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT response_id, tenant FROM response_owner ORDER BY response_id")
        ).all()
    assert [tuple(r) for r in rows] == [(r["response_id"], r["tenant"]) for r in LEGACY]
    assert not sa.inspect(old_engine).has_table("object_owner")


def test_a_sqlite_file_from_before_0002_keeps_its_records_when_the_gateway_opens_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as conn:  # the schema `create_all` made before 0002
        conn.exec_driver_sql(
            "CREATE TABLE response_owner (response_id VARCHAR(128) PRIMARY KEY, "
            "tenant VARCHAR(128) NOT NULL, created_at DATETIME NOT NULL)"
        )
        legacy = sa.Table("response_owner", sa.MetaData(), autoload_with=conn)
        conn.execute(legacy.insert(), LEGACY)
    old.dispose()
    engine = make_engine(url)
    assert owners(engine) == EXPECTED
    assert not sa.inspect(engine).has_table("response_owner")
    engine.dispose()
    again = make_engine(url)  # nothing left to move
    assert owners(again) == EXPECTED
    again.dispose()
