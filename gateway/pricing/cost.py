"""The cost of a usage record: a pure function, exact in integer nano-USD."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from gateway.metering.usage import Usage
from gateway.pricing.table import ModelPrice


@dataclass(frozen=True, slots=True)
class Cost:
    nanos: int
    complete: bool  # False when some usage kind or tool has no price (charged at 0)


def cost_of(
    usage: Usage,
    price: ModelPrice,
    tool_prices: Mapping[str, int],
    tier: Fraction = Fraction(1),
) -> Cost:
    complete = True

    def kind(tokens: int, unit: int | None, fallback: int | None = None) -> int:
        nonlocal complete
        if not tokens:
            return 0
        unit = unit if unit is not None else fallback
        if unit is None:
            complete = False
            return 0
        return tokens * unit

    tokens = (
        kind(usage.input_tokens, price.input)
        + kind(usage.cached_input_tokens, price.cached_input)
        + kind(usage.output_tokens, price.output)
        + kind(usage.audio_input_tokens, price.audio_input)
        + kind(usage.cached_audio_input_tokens, price.cached_audio_input, price.audio_input)
        + kind(usage.audio_output_tokens, price.audio_output)
        + kind(usage.image_input_tokens, price.image_input, price.input)
    )
    nanos = math.ceil(tokens * tier) if tier.numerator != tier.denominator else tokens
    for tool, calls in usage.tool_calls.items():  # hosted-tool calls and the model's own units
        fee = price.units.get(tool, tool_prices.get(tool))
        if fee is None:
            complete = False
        else:
            nanos += calls * fee
    return Cost(nanos, complete)
