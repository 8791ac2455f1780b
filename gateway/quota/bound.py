"""The upper bound of a call's cost, reserved before it is forwarded (pure).

Input: a BPE token is at least one byte of UTF-8, so the request body's size
bounds the tokens of everything inlined in it (JSON syntax only adds bytes).
What is not inlined — a previous response, a conversation, a stored prompt,
files and images by URL or id, stored items named by id — can be as large as
the model's context window, so then the window is the bound. Either way one
pass of the model never reads more than the window. A call with hosted tools
makes up to ``max_tool_calls`` more passes, each re-reading its context with
the tool's results added: each is bounded by the window. Output: the cap in
force (reasoning included), per choice. Every input token is priced at the
model's dearest input price, at the dearest service tier the call may be
served at; hosted tools at ``max_tool_calls`` × the dearest fee.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from gateway.config.runtime import Model
from gateway.errors import PermissionDenied
from gateway.policy.request import Applied
from gateway.pricing import ModelPrice, PriceTable
from gateway.shapes.refs import stored_item

_REMOTE_CONTENT_MARKERS = (b'"file_id"', b'"file_url"', b'"image_url"', b'"input_file"', b'"file"')
# Hosted tools that put content in the first pass the body does not carry (an MCP
# server's tool list).
_CONTEXT_TOOLS = frozenset({"mcp"})


def input_bound_tokens(raw: bytes, body: Mapping[str, Any], context_window: int) -> int:
    """Tokens one pass of the model may read: the body's bytes, or the window."""
    return context_window if references_content(raw, body) else min(len(raw), context_window)


def references_content(raw: bytes, body: Mapping[str, Any]) -> bool:
    """The request makes the API read content it does not carry."""
    if body.get("previous_response_id") or body.get("conversation") or body.get("prompt"):
        return True
    # Every marker contains "file" or "image_url": one cheap scan rules most bodies out.
    if (b"file" in raw or b'image_url"' in raw) and any(m in raw for m in _REMOTE_CONTENT_MARKERS):
        return True
    # A stored item or a stored audio answer is named by its id.
    return b'"id"' in raw and _names_stored_items(body)


def _names_stored_items(body: Mapping[str, Any]) -> bool:
    items = body.get("input")
    if isinstance(items, list) and any(stored_item(i) for i in items if isinstance(i, dict)):
        return True
    messages = body.get("messages")  # Chat: {"role": "assistant", "audio": {"id": ...}}
    return isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("audio"), dict) and "id" in m["audio"]
        for m in messages
    )


class Sizing(NamedTuple):
    """What a call's cost bound is computed from (a tuple: one is made per attempt)."""

    raw: bytes  # the request as it goes upstream
    body: Mapping[str, Any]  # parsed (an upload: its fields and file sizes)
    model: Model
    price: ModelPrice
    applied: Applied  # the policy in force: output cap, choices, hosted tools, tiers
    pricing: PriceTable
    detail: Any = None  # what the endpoint read of content the request only names


_NONE: Mapping[str, int] = {}


def cost_bound(
    price: ModelPrice,
    *,
    input_tokens: int,
    output_tokens: int,
    tool_calls: Mapping[str, int] = _NONE,
    tool_prices: Mapping[str, int] = _NONE,
    tier: Fraction = Fraction(1),
) -> int:
    tokens = input_tokens * price.max_input + output_tokens * max(
        price.output or 0, price.audio_output or 0
    )
    # Integer math on the tier's terms: rounded up, and never below the standard price.
    num, den = tier.numerator, tier.denominator
    nanos = -(-tokens * num // den) if num > den else tokens
    if tool_calls:
        nanos += sum(calls * tool_prices.get(tool, 0) for tool, calls in tool_calls.items())
    return nanos


def token_estimate(raw: bytes, output_tokens: int) -> int:
    """Tokens charged to a TPM limit at admission: a typical estimate, settled to the truth."""
    return math.ceil(len(raw) / 4) + output_tokens


def admission_bound(s: Sizing) -> int:
    """Reserve-able upper bound of one call, in nano-USD; refuses a hosted tool or a
    service tier without a price (unless the operator serves unpriced calls)."""
    applied, pricing, body, window = s.applied, s.pricing, s.body, s.model.context_window
    first = input_bound_tokens(s.raw, body, window)
    calls = (applied.max_tool_calls or 0) if applied.hosted_tools else 0
    if calls and not _CONTEXT_TOOLS.isdisjoint(applied.hosted_tools):
        first = window
    output = applied.cap * applied.choices
    if "prediction" in body:  # rejected predicted tokens are billed as output
        output += len(s.raw) * applied.choices
    return cost_bound(
        s.price,
        input_tokens=first + calls * window,
        output_tokens=output,
        tool_calls=tool_fees(applied, pricing),
        tool_prices=pricing.tools,
        tier=bound_tier(body, applied, pricing),
    )


def tool_fees(applied: Applied, pricing: PriceTable) -> Mapping[str, int]:
    """``max_tool_calls`` calls of the dearest hosted tool the call may use."""
    if not applied.hosted_tools:
        return _NONE
    missing = pricing.unpriced_tools(applied.hosted_tools)
    if missing:
        raise PermissionDenied(
            f"The hosted tool '{missing[0]}' has no price in the gateway's price table, so "
            "its cost cannot be controlled; ask the gateway's operators to add one.",
            param="tools",
            code="tool_not_priced",
        )
    if not applied.max_tool_calls:
        return _NONE
    fee, dearest = max((pricing.tools.get(t, 0), t) for t in applied.hosted_tools)
    return {dearest: applied.max_tool_calls} if fee else _NONE


def bound_tier(body: Mapping[str, Any], applied: Applied, pricing: PriceTable) -> Fraction:
    """The dearest tier the call may be served at; refuses an asked tier without a price."""
    asked = body.get("service_tier")
    if isinstance(asked, str) and not pricing.knows_tier(asked) and not pricing.allow_unpriced:
        raise PermissionDenied(
            f"The service tier '{asked}' has no price in the gateway's price table, so its "
            "cost cannot be controlled; ask the gateway's operators to add one.",
            param="service_tier",
            code="service_tier_not_priced",
        )
    return pricing.bound_tier(applied.tiers)
