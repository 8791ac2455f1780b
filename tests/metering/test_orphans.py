"""An orphan's row (a call whose replica died before writing it, reconciled by another):
charged its bound, marked estimated, and counted where the call would have been."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from harness import ledger_row
from prometheus_client.parser import text_string_to_metric_families

from gateway.db import make_engine
from gateway.ledger import Ledger
from gateway.metering.recorder import Recorder
from gateway.quota.memory import MemoryQuota
from gateway.quota.orphans import Orphan
from gateway.telemetry.metrics import Metrics

ORPHAN = Orphan(
    "7", "search", "gpt-5-nano", 250_000_000, ("req_lost", 2), 1_796_000_000.0,
    service="indexer", tags="feature=search",
)  # fmt: skip


def test_an_orphans_row_keeps_its_service_and_tags(db_url: str) -> None:
    engine = make_engine(db_url)
    metrics = Metrics()

    async def reconcile() -> None:
        ledger = Ledger(engine)
        await ledger.start()
        Recorder(MemoryQuota(ZoneInfo("UTC")), ledger, metrics).record_orphan(ORPHAN)
        await ledger.aclose()

    try:
        asyncio.run(reconcile())
    finally:
        engine.dispose()
    row = ledger_row(db_url, request_id="req_lost")
    assert (row["attempt"], row["outcome"], row["estimated"]) == (2, "orphaned", 1)
    assert (row["cost_nanos"], row["service"], row["tags"]) == (250_000_000, "indexer",
                                                                "feature=search")  # fmt: skip
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }
    key = ("gateway_service_cost_usd_total", (("service", "indexer"), ("tenant", "search")))
    assert samples[key] == 0.25
