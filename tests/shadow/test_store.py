"""Compared pairs kept and read back by route and time, on SQLite and PostgreSQL (migrated
as `gateway db upgrade` does)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.db import make_engine
from gateway.shadow.store import PairStore, pairs
from gateway.shadow.table import PairRecord

NOON = datetime(2026, 12, 5, 12, tzinfo=UTC)


def pair(route: str, ts: datetime, similarity: float | None) -> PairRecord:
    return PairRecord(
        ts=ts, request_id=f"req_{route}_{ts.hour}", route=route, tenant="app",
        endpoint="responses", primary_model="small", shadow_model="big", primary_status=200,
        shadow_status=500 if similarity is None else 200, primary_ok=True,
        shadow_ok=similarity is not None, shadow_json_valid=False, primary_latency_ms=12.5,
        shadow_latency_ms=40.0, primary_cost_nanos=2**40, shadow_cost_nanos=3,
        similarity=similarity,
    )  # fmt: skip


async def write(store: PairStore, records: list[PairRecord]) -> None:
    await store.start()
    for record in records:
        store.add(record)
    await store.aclose()  # writes what is queued


def test_pairs_are_read_back_by_route_since_a_moment(dialect_db_url: str) -> None:
    engine = make_engine(dialect_db_url)
    try:
        kept = [
            pair("r", NOON - timedelta(days=2), 0.9),
            pair("r", NOON, None),
            pair("r", NOON + timedelta(hours=1), 0.25),
            pair("other", NOON, 1.0),
        ]
        asyncio.run(write(PairStore(engine), kept))
        found = pairs(engine, "r", NOON - timedelta(minutes=1))
        assert [p.request_id for p in found] == ["req_r_12", "req_r_13"]
        first, second = found
        assert (first.ts, second.ts) == (NOON, NOON + timedelta(hours=1)), "aware UTC back"
        assert (first.similarity, first.shadow_ok, first.shadow_json_valid) == (None, False, False)
        assert (second.similarity, second.primary_cost_nanos) == (0.25, 2**40)
    finally:
        engine.dispose()
