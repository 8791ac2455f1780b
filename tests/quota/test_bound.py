"""The admission bound is never below what a call can really cost."""

from __future__ import annotations

from pathlib import Path

import orjson

from gateway.config.runtime import Model
from gateway.policy.request import Applied
from gateway.pricing import load_pricing
from gateway.quota.bound import Sizing, admission_bound, input_bound_tokens, token_estimate

TABLE = load_pricing(Path(__file__).resolve().parents[2] / "config" / "pricing.yaml")
MODEL = Model("gpt-5", "openai", "gpt-5", context_window=400_000)


STANDARD = frozenset({"default"})


def applied(
    cap: int = 100,
    tools: frozenset[str] = frozenset(),
    calls: int | None = None,
    tiers: frozenset[str] | None = STANDARD,
) -> Applied:
    return Applied(cap, "set", tools, calls, True, False, tiers=tiers)


def test_inline_input_is_bounded_by_its_bytes() -> None:
    body = {"model": "gpt-5", "input": "héllo wörld " * 10}
    raw = orjson.dumps(body)
    assert input_bound_tokens(raw, body, 400_000) == len(raw)


def test_remote_context_is_bounded_by_the_context_window() -> None:
    for body in (
        {"model": "gpt-5", "input": "x", "previous_response_id": "resp_1"},
        {"model": "gpt-5", "input": "x", "conversation": "conv_1"},
        {"model": "gpt-5", "input": [{"type": "input_file", "file_id": "file-1"}]},
        {"model": "gpt-5", "input": [{"type": "input_image", "image_url": "https://x/y.png"}]},
    ):
        assert input_bound_tokens(orjson.dumps(body), body, 400_000) == 400_000


def test_bound_prices_every_input_token_at_full_price_plus_the_output_cap() -> None:
    body = {"model": "gpt-5", "input": "hi"}
    raw = orjson.dumps(body)
    price = TABLE.price_for("gpt-5")
    assert price is not None
    assert admission_bound(Sizing(raw, body, MODEL, price, applied(cap=100), TABLE)) == (
        len(raw) * 1250 + 100 * 10000
    )


def test_bound_includes_the_dearest_hosted_tool_times_max_tool_calls_and_the_tier() -> None:
    body = {"model": "gpt-5", "input": "hi", "service_tier": "priority"}
    raw = orjson.dumps(body)
    price = TABLE.price_for("gpt-5")
    assert price is not None
    tools = frozenset({"web_search", "file_search"})
    priority = frozenset({"priority"})
    sizing = Sizing(raw, body, MODEL, price, applied(50, tools, 3, priority), TABLE)
    # Each hosted-tool call adds a pass of the model over its context, up to the window.
    passes = len(raw) + 3 * 400_000
    assert admission_bound(sizing) == 2 * (passes * 1250 + 50 * 10000) + 3 * 10_000_000


def test_token_estimate_for_rate_limits() -> None:
    assert token_estimate(b"x" * 400, 50) == 150
