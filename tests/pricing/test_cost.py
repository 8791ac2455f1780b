"""Prices and costs checked against figures worked out by hand, in nano-USD (1e-9 USD)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import pytest

from gateway.metering.usage import Usage, from_responses
from gateway.pricing import cost_of, load_pricing
from gateway.yamlfile import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TABLE = load_pricing(ROOT / "config" / "pricing.yaml")


def test_prices_compile_to_exact_nanos_per_token() -> None:
    nano = TABLE.price_for("gpt-5-nano")
    assert nano is not None
    # $0.05 / $0.005 / $0.40 per 1M tokens = 50 / 5 / 400 nano-USD per token.
    assert (nano.input, nano.cached_input, nano.output) == (50, 5, 400)
    assert TABLE.tools["web_search"] == 10_000_000  # $0.01 per call


def test_dated_model_names_get_their_family_price() -> None:
    assert TABLE.price_for("gpt-4o-2024-08-06") == TABLE.price_for("gpt-4o")
    assert TABLE.price_for("gpt-unknown") is None


def test_gpt5_with_cache_and_reasoning() -> None:
    # gpt-5: input $1.25, cached $0.125, output $10.00 per 1M.
    # 176 uncached × 1250 + 1024 cached × 125 + 300 output (192 of them reasoning) × 10000
    usage = Usage(
        input_tokens=176, cached_input_tokens=1024, output_tokens=300, reasoning_tokens=192
    )
    price = TABLE.price_for("gpt-5")
    assert price is not None
    cost = cost_of(usage, price, TABLE.tools)
    assert cost.nanos == 176 * 1250 + 1024 * 125 + 300 * 10000 == 3_348_000  # $0.003348
    assert cost.complete


def test_realtime_audio_text_image_each_at_its_price() -> None:
    # gpt-realtime: text in $4, cached text $0.40, text out $16, audio in $32,
    # cached audio $0.40, audio out $64, image in $5 (per 1M).
    usage = Usage(
        input_tokens=24,
        cached_input_tokens=96,
        output_tokens=40,
        audio_input_tokens=144,
        cached_audio_input_tokens=416,
        audio_output_tokens=160,
        image_input_tokens=20,
    )
    price = TABLE.price_for("gpt-realtime")
    assert price is not None
    expected = 24 * 4000 + 96 * 400 + 40 * 16000 + 144 * 32000 + 416 * 400 + 160 * 64000 + 20 * 5000
    assert expected == 15_888_800  # $0.0158888
    assert cost_of(usage, price, TABLE.tools).nanos == expected


def test_hosted_tool_calls_and_service_tier() -> None:
    price = TABLE.price_for("gpt-4.1-mini")
    assert price is not None
    usage = Usage(input_tokens=1000, output_tokens=100, tool_calls={"web_search": 2})
    # (1000 × 400 + 100 × 1600) × ½ for flex, plus 2 searches × $0.01
    cost = cost_of(usage, price, TABLE.tools, TABLE.tier_multiplier("flex"))
    assert cost.nanos == (400_000 + 160_000) // 2 + 2 * 10_000_000
    assert TABLE.tier_multiplier("default") == Fraction(1)


def test_an_unpriced_kind_is_flagged_not_silently_free() -> None:
    price = TABLE.price_for("gpt-5-mini")
    assert price is not None
    cost = cost_of(Usage(audio_output_tokens=10), price, TABLE.tools)
    assert cost == cost.__class__(0, False)
    assert not cost_of(Usage(tool_calls={"teleport": 1}), price, TABLE.tools).complete


def test_a_bad_price_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "pricing.yaml"
    bad.write_text("version: x\nas_of: 2026-01-01\nmodels:\n  m: {input: -1, output: 2}\n")
    with pytest.raises(ConfigError) as err:
        load_pricing(bad)
    assert str(err.value.problems[0]).startswith(f"{bad}:4: models.m.input")


def test_a_response_served_at_fast_is_billed_as_priority() -> None:
    assert TABLE.tier_multiplier("fast") == TABLE.tier_multiplier("priority") == Fraction(2)
    assert TABLE.tier_multiplier("scale") == Fraction(1)  # not in the table: standard


def test_which_tiers_and_tools_the_table_can_price() -> None:
    assert all(TABLE.knows_tier(t) for t in ("auto", "default", "flex", "priority", "fast"))
    assert not TABLE.knows_tier("ultrafast")
    assert TABLE.unpriced_tools({"web_search", "teleport", "beam"}) == ["beam", "teleport"]
    lenient = dataclasses.replace(TABLE, allow_unpriced=True)
    assert lenient.unpriced_tools({"teleport"}) == []
    assert TABLE.dearest_tier == Fraction(2)
    assert dataclasses.replace(TABLE, tiers={}).dearest_tier == Fraction(1)


def test_an_image_generated_by_the_hosted_tool_is_charged_its_fee() -> None:
    price = TABLE.price_for("gpt-5")
    assert price is not None
    response = {"output": [{"type": "image_generation_call", "id": "ig_1"}]}
    usage = from_responses({"input_tokens": 10}, response)
    cost = cost_of(usage, price, TABLE.tools)
    assert cost.complete
    assert cost.nanos == 10 * price.input + TABLE.tools["image_generation"]
