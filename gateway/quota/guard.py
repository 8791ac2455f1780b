"""One process per ledger on the in-memory quota: a second one would split every budget.

Two gateways that each count limits and budgets in their own memory would each
let a tenant spend its whole budget. So a gateway on the in-memory backend
holds a lock on its database for as long as it runs: a PostgreSQL advisory
lock (any replica, any host), or an exclusive lock file beside a SQLite file.
A second one refuses to start and says to configure ``GATEWAY_REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

# pg_advisory_lock key: "gw" + 1, any 64-bit number other applications are unlikely to use.
_PG_LOCK_KEY = 0x6777_0000_0001


class SharedStateRequired(RuntimeError):
    """Another gateway already counts limits in its own memory against this database."""


class SingleInstance:
    def __init__(self, conn: Connection | None = None, file: IO[bytes] | None = None) -> None:
        self._conn = conn
        self._file = file

    @classmethod
    def claim(cls, engine: Engine) -> SingleInstance:
        """Take the lock or raise `SharedStateRequired` (blocking: call in a thread)."""
        dialect = engine.dialect.name
        if dialect == "postgresql":
            conn = engine.connect()
            conn.detach()  # closing must end the session (and the lock), not pool it
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            if not got.scalar():
                conn.close()
                raise SharedStateRequired(_refusal("this PostgreSQL database"))
            conn.commit()  # the lock is the session's; the connection stays checked out
            return cls(conn=conn)
        path = engine.url.database if dialect == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return cls()  # a private database: no other process can share it
        file = open(f"{os.path.abspath(path)}.lock", "ab")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise SharedStateRequired(_refusal(f"the SQLite file {path}")) from None
        return cls(file=file)

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # ends the session, and so the lock
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _refusal(what: str) -> str:
    return (
        f"Another gateway is already running on {what} with in-process limits and budgets. "
        "Two would each admit a tenant's whole budget. To run several gateways, set "
        "GATEWAY_REDIS_URL (shared limits and budgets) on all of them; to run one, stop the other."
    )
