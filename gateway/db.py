"""Database engine for the gateway's own records (SQLite by default, PostgreSQL by URL).

SQLite is the embedded default: its tables are created on start. A server
database (PostgreSQL) is migrated explicitly, once per release, with
``gateway db upgrade`` (alembic, `gateway/migrations/`); a gateway refuses to
start on a database that is not at the current revision, and says what to run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

WAL_BACKSTOP_PAGES = 20_000  # 80 MB of write-ahead log


def make_engine(url: str) -> Engine:
    """An engine with the gateway's tables created; SQLite runs in WAL mode."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # The ledger checkpoints in a thread (gateway.ledger.checkpoint); a commit does it
            # only as a backstop, at 20x SQLite's default, when those cannot keep up.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            cur.close()

        import gateway.deferred.table
        import gateway.ledger.table
        import gateway.ownership.table
        import gateway.shadow.table
        import gateway.storage.table  # noqa: F401  (registers the tables)
        from gateway.ownership.sql import adopt_response_owners

        SQLModel.metadata.create_all(engine)
        add_missing_columns(engine, SQLModel.metadata)
        for table in SQLModel.metadata.sorted_tables:  # indexes added to older tables since
            for index in table.indexes:
                index.create(engine, checkfirst=True)
        adopt_response_owners(engine)  # a file from before `object_owner` (migration 0002)
        return engine
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)  # psycopg 3, not psycopg2
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def sqlite_file_missing(url: str) -> Path | None:
    """The absolute path of a SQLite URL's file when it does not exist (else None)."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    path = Path(url.removeprefix("sqlite:///")).resolve()
    return None if path.exists() else path


def add_missing_columns(engine: Engine, metadata: MetaData) -> list[str]:
    """Columns added to older SQLite tables since (`ledger.background`, `ledger.tags`,
    `ledger.service`).

    SQLite files are created at start, not migrated: a column added since is added here,
    with its default for the rows already there. Returns "table.column" of each added.
    """
    added = []
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = getattr(column.default, "arg", None)
                fill = "" if default is None or callable(default) else f" DEFAULT {int(default)}"
                if not column.nullable and not fill:
                    raise RuntimeError(f"{table.name}.{column.name}: no default to fill old rows")
                null = "" if column.nullable else " NOT NULL"
                conn.exec_driver_sql(
                    f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{null}{fill}"
                )
                added.append(f"{table.name}.{column.name}")
    return added


def _alembic() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "gateway:migrations")
    return config


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the database to the current revision; returns (before, after)."""
    from alembic import command

    config = _alembic()
    before = current_revision(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return before, head_revision()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic()).get_current_head()
    assert head is not None
    return head


def require_schema(engine: Engine) -> None:
    """A server database must be migrated to the current revision before a gateway serves."""
    if engine.dialect.name == "sqlite":
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise RuntimeError(
            f"the database is at schema revision {current or 'none'}, this gateway needs "
            f"{head}: run `gateway db upgrade` (with the same GATEWAY_DATABASE_URL) first"
        )


def placeholder(paramstyle: str) -> str:
    """The DBAPI's positional parameter marker (sqlite3: ``?``, psycopg: ``%s``)."""
    return "?" if paramstyle == "qmark" else "%s"


def core_moment(moment: datetime, engine: Engine) -> datetime:
    """A moment for a SQLAlchemy Core statement: SQLite keeps naive UTC text, so compare
    and store naive UTC there."""
    if engine.dialect.name == "sqlite":
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def db_timestamp(at: datetime, sqlite: bool) -> datetime | str:
    """A UTC datetime as a raw DBAPI parameter: SQLite gets SQLAlchemy's storage text."""
    if not sqlite:
        return at
    utc = at if at.tzinfo is UTC else at.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(" ", "microseconds")
