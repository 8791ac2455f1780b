"""The report's arithmetic: rates, ratios and the similarity distribution per model pair."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.shadow.report import render, summarize
from gateway.shadow.table import ShadowPair


def pair(**kw: Any) -> ShadowPair:
    values: dict[str, Any] = {
        "ts": datetime(2026, 12, 5, tzinfo=UTC), "request_id": "r", "route": "r",
        "tenant": "t", "endpoint": "responses", "primary_model": "small",
        "shadow_model": "big", "primary_status": 200, "shadow_status": 200,
        "primary_ok": True, "shadow_ok": True, "primary_latency_ms": 100.0,
        "shadow_latency_ms": 300.0, "primary_cost_nanos": 1000, "shadow_cost_nanos": 4000,
        "primary_output_tokens": 10, "shadow_output_tokens": 20, "similarity": 0.5,
    }  # fmt: skip
    return ShadowPair(**{**values, **kw})


def test_rates_and_ratios_are_per_model_pair() -> None:
    rows = [
        pair(similarity=1.0),
        pair(shadow_ok=False, shadow_status=500, similarity=None, shadow_cost_nanos=0),
        pair(shadow_refusal=True, similarity=0.1, primary_json_valid=True, shadow_json_valid=False),
        pair(shadow_model="other", shadow_latency_ms=50.0),
    ]
    big, other = summarize(rows)
    assert (big.shadow_model, big.pairs, other.pairs) == ("big", 3, 1)
    assert big.primary_ok == 1.0
    assert big.shadow_ok == pytest.approx(2 / 3)
    assert big.primary_refusals == 0.0
    assert big.shadow_refusals == pytest.approx(1 / 3)
    assert (big.primary_json_valid, big.shadow_json_valid) == (1.0, 0.0), "of the checked only"
    assert big.cost_ratio == pytest.approx(8000 / 3000)
    assert (big.latency_p50_ratio, other.latency_p50_ratio) == (3.0, 0.5)
    assert big.output_ratio == 2.0
    assert (big.similarity_p10, big.similarity_p50, big.similarity_p90) == (0.1, 0.1, 1.0)
    assert big.similarity_buckets == {
        "<=0.2": 1, "<=0.4": 0, "<=0.6": 0, "<=0.8": 0, "<=0.95": 0, "<=1.0": 1}  # fmt: skip


def test_the_table_names_each_pair_and_says_when_there_is_nothing() -> None:
    table = render("r", summarize([pair(), pair(shadow_ok=False, similarity=None)]))
    assert "small -> big" in table
    assert "100% / 50%" in table
    assert "4.00x" in table
    assert render("r", []) == "route r: no compared pairs in this window\n"
