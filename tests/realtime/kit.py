"""What the in-process Realtime session tests share: driving a frame decision, events, rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import text

from gateway.services import Services

T = TypeVar("T")


def run(step: Coroutine[Any, Any, T]) -> T:
    """Run a frame decision to its end; on the in-memory quota it never waits on anything."""
    try:
        step.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    raise AssertionError("a frame decision waited on the in-memory quota")


def ev(**fields: Any) -> str:
    return json.dumps(fields)


def ledger(services: Services) -> list[dict[str, Any]]:
    asyncio.run(services.ledger.flush())
    with services.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM ledger ORDER BY id"))
        return [dict(r._mapping) for r in rows]
