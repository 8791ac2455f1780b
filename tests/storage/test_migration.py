"""Migration 0004: `storage_charge`, and the partial index of vector stores on `object_owner`.

On PostgreSQL the schema comes from the migrations and must equal the models'; on
SQLite it is created at start, and a file made before 0004 gets the table and the
index when a gateway opens it.
"""

from __future__ import annotations

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

import gateway.storage.table  # noqa: F401  (the models compared against)
from gateway.db import current_revision, head_revision, make_engine

INDEX = "ix_object_owner_vector_store"


def indexes(engine: Engine) -> dict[str | None, list[str | None]]:
    return {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes("object_owner")}


def downgrade_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", "gateway:migrations")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@pytest.mark.slow
def test_the_migration_makes_the_models_schema_and_undoes_it(postgres: PostgresServer) -> None:
    engine = make_engine(postgres.migrated_database())
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        [definition] = conn.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": INDEX}
        ).one()
    assert diff == [], "the migrations and the models agree"
    assert "WHERE" in definition, "only the vector stores are indexed"
    assert "vector_store" in definition
    downgrade_to(engine, "0003")  # undoes 0004 (and what came after it)
    assert not sa.inspect(engine).has_table("storage_charge")
    assert INDEX not in indexes(engine)
    engine.dispose()


def test_a_sqlite_file_from_before_0004_gets_the_table_and_the_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as conn:  # the object_owner `create_all` made before 0004
        conn.exec_driver_sql(
            "CREATE TABLE object_owner (object_id VARCHAR(128) PRIMARY KEY, "
            "kind VARCHAR(32) NOT NULL, tenant VARCHAR(128) NOT NULL, created_at DATETIME NOT NULL)"
        )
    old.dispose()
    engine = make_engine(url)
    assert sa.inspect(engine).has_table("storage_charge")
    assert indexes(engine)[INDEX] == ["object_id"]
    engine.dispose()
