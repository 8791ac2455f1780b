"""The admission bound is never below what a call can really cost."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from gateway.config.runtime import Model
from gateway.errors import PermissionDenied
from gateway.policy.request import Applied
from gateway.pricing import PriceTable, load_pricing
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


def _bound(body: dict[str, object], a: Applied, table: PriceTable = TABLE) -> int:
    price = table.price_for("gpt-5")
    assert price is not None
    return admission_bound(Sizing(orjson.dumps(body), body, MODEL, price, a, table))


@pytest.mark.parametrize(
    ("tiers", "multiplier"),
    [
        (None, 2),  # auto, any tier: the dearest the table knows (priority)
        (frozenset({"auto", "default", "flex"}), 1),  # the tenant's list: no priority
        (frozenset({"auto", "fast"}), 2),  # fast is served (and billed) as priority
        (frozenset({"flex"}), 1),  # a discount is not counted on
        (frozenset(), 1),
    ],
)
def test_the_bound_is_taken_at_the_dearest_tier_the_call_may_be_served_at(
    tiers: frozenset[str] | None, multiplier: int
) -> None:
    body: dict[str, object] = {"model": "gpt-5", "input": "hi"}
    standard = _bound(body, applied(cap=100))
    assert _bound(body, applied(cap=100, tiers=tiers)) == multiplier * standard


def test_an_asked_tier_without_a_price_is_refused_unless_unpriced_calls_are_served() -> None:
    body: dict[str, object] = {"model": "gpt-5", "input": "hi", "service_tier": "ultrafast"}
    with pytest.raises(PermissionDenied) as err:
        _bound(body, applied(tiers=frozenset({"ultrafast"})))
    assert (err.value.code, err.value.param) == ("service_tier_not_priced", "service_tier")
    lenient = dataclasses.replace(TABLE, allow_unpriced=True)
    assert _bound(body, applied(tiers=frozenset({"ultrafast"})), lenient) > 0


def test_a_hosted_tool_without_a_price_is_refused_unless_unpriced_calls_are_served() -> None:
    body: dict[str, object] = {"model": "gpt-5", "input": "hi"}
    tools = frozenset({"web_search", "programmatic_tool_calling"})
    with pytest.raises(PermissionDenied) as err:
        _bound(body, applied(tools=tools, calls=2))
    assert (err.value.code, err.value.param) == ("tool_not_priced", "tools")
    assert "programmatic_tool_calling" in err.value.message
    lenient = dataclasses.replace(TABLE, allow_unpriced=True)
    passes = _bound(body, applied(tools=frozenset({"web_search"}), calls=2))
    assert _bound(body, applied(tools=tools, calls=2), lenient) == passes


@pytest.mark.parametrize(
    ("tool", "fee_usd"),
    [("image_generation", 0.30), ("container_64g", 1.92), ("shell", 0.03), ("computer_use", 0)],
)
def test_every_known_hosted_tool_is_priced_and_its_fee_reserved_per_call(
    tool: str, fee_usd: float
) -> None:
    body: dict[str, object] = {"model": "gpt-5", "input": "hi"}
    assert TABLE.tools[tool] == round(fee_usd * 1e9)
    assert TABLE.tools["mcp"] == 0  # billed as tokens: its passes are on the input side
    with_tool = _bound(body, applied(tools=frozenset({tool}), calls=4))
    no_fee = _bound(body, applied(tools=frozenset({"computer_use"}), calls=4))
    assert with_tool == no_fee + 4 * TABLE.tools[tool]
