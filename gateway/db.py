"""Database engine for the gateway's own records (SQLite by default, any SQLAlchemy URL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine


def make_engine(url: str) -> Engine:
    """An engine with the gateway's tables created; SQLite runs in WAL mode."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    else:
        engine = create_engine(url, pool_pre_ping=True)
    import gateway.ledger.table
    import gateway.ownership.table  # noqa: F401  (registers the tables)

    SQLModel.metadata.create_all(engine)
    return engine


def placeholder(paramstyle: str) -> str:
    """The DBAPI's positional parameter marker (sqlite3: ``?``, psycopg: ``%s``)."""
    return "?" if paramstyle == "qmark" else "%s"


def db_timestamp(at: datetime, sqlite: bool) -> datetime | str:
    """A UTC datetime as a raw DBAPI parameter: SQLite gets SQLAlchemy's storage text."""
    if not sqlite:
        return at
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
