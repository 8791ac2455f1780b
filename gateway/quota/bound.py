"""The upper bound of a call's cost, reserved before it is forwarded (pure).

Input: a BPE token is at least one byte of UTF-8, so the request body's size
bounds the tokens of everything inlined in it (JSON syntax only adds bytes).
What is not inlined — a previous response, a conversation, a stored prompt,
files and images by URL or id — can be as large as the model's context
window, so then the window is the bound. Either way it never exceeds the
window, which no call can. Output: the cap in force (reasoning included),
per choice. Every input token is priced at the model's dearest input price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from gateway.config.runtime import Model
from gateway.policy.request import Applied
from gateway.pricing import ModelPrice, PriceTable

_REMOTE_CONTEXT_FIELDS = ("previous_response_id", "conversation", "prompt")
_REMOTE_CONTENT_MARKERS = (b'"file_id"', b'"file_url"', b'"image_url"', b'"input_file"', b'"file"')


def input_bound_tokens(raw: bytes, body: Mapping[str, Any], context_window: int) -> int:
    remote = any(body.get(f) for f in _REMOTE_CONTEXT_FIELDS)
    # Every marker contains "file" or "image_url": one cheap scan rules most bodies out.
    if not remote and (b'file"' in raw or b'image_url"' in raw):
        remote = any(m in raw for m in _REMOTE_CONTENT_MARKERS)
    return context_window if remote else min(len(raw), context_window)


class Sizing(NamedTuple):
    """What a call's cost bound is computed from (a tuple: one is made per attempt)."""

    raw: bytes  # the request as it goes upstream
    body: Mapping[str, Any]  # parsed (an upload: its fields and file sizes)
    model: Model
    price: ModelPrice
    applied: Applied  # the policy in force: output cap, choices, hosted tools
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
    # Fraction math only when needed (comparing Fractions costs more than the rest).
    nanos = math.ceil(tokens * tier) if tier.numerator > tier.denominator else tokens
    if tool_calls:
        nanos += sum(calls * tool_prices.get(tool, 0) for tool, calls in tool_calls.items())
    return nanos


def token_estimate(raw: bytes, output_tokens: int) -> int:
    """Tokens charged to a TPM limit at admission: a typical estimate, settled to the truth."""
    return math.ceil(len(raw) / 4) + output_tokens


def admission_bound(s: Sizing) -> int:
    """Reserve-able upper bound of one call, in nano-USD."""
    applied, pricing, body = s.applied, s.pricing, s.body
    tools: dict[str, int] = {}
    if applied.max_tool_calls and applied.hosted_tools:
        fees = [(pricing.tools.get(t, 0), t) for t in applied.hosted_tools]
        fee, dearest = max(fees)
        if fee:
            tools[dearest] = applied.max_tool_calls
    tier = body.get("service_tier")
    return cost_bound(
        s.price,
        input_tokens=input_bound_tokens(s.raw, body, s.model.context_window),
        output_tokens=applied.cap * applied.choices,
        tool_calls=tools,
        tool_prices=pricing.tools,
        tier=pricing.tier_multiplier(tier if isinstance(tier, str) else None),
    )
