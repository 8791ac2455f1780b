"""The price table (``config/pricing.yaml``), compiled to integer nano-USD per token.

Money is integer nano-USD (1e-9 USD) throughout the gateway: a price of
$0.005 per 1M tokens is exactly 5 nano-USD per token, so every cost is an
exact integer and budgets compare without rounding drift. A price with more
precision than that is rounded up, never down.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from gateway.yamlfile import load_yaml_file

NANOS_PER_USD = 1_000_000_000
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=6)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelPriceFile(_Strict):
    """USD per 1M tokens, by kind. Kinds a model does not have are left out."""

    input: Price
    cached_input: Price | None = None
    output: Price | None = None  # left out for input-only models (embeddings)
    audio_input: Price | None = None
    cached_audio_input: Price | None = None
    audio_output: Price | None = None
    image_input: Price | None = None
    units: dict[str, Price] = Field(
        default_factory=dict,
        description="USD per counted unit: an image of a quality and size "
        "(image.hd.1024x1024), a second of audio (audio_second), a character (character).",
    )


class PricingFile(_Strict):
    version: str
    as_of: date
    currency: str = Field(default="USD", pattern="^USD$")
    source: str = ""
    models: dict[str, ModelPriceFile]
    tools: dict[str, Price] = Field(default_factory=dict, description="USD per call.")
    service_tiers: dict[str, Annotated[Decimal, Field(gt=0, le=10)]] = Field(
        default_factory=dict, description="Multipliers on token prices by the tier served."
    )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Nano-USD per token; ``None`` where the model has no such kind of token."""

    input: int
    cached_input: int
    output: int | None
    audio_input: int | None = None
    cached_audio_input: int | None = None
    audio_output: int | None = None
    image_input: int | None = None
    units: Mapping[str, int] = field(default_factory=dict)  # nano-USD per counted unit

    @property
    def max_input(self) -> int:
        """The dearest input-side price: what an input bound of unknown kind is priced at."""
        kinds = (self.input, self.audio_input, self.image_input)
        return max(k for k in kinds if k is not None)


@dataclass(frozen=True)
class PriceTable:
    version: str
    as_of: date
    models: Mapping[str, ModelPrice]
    tools: Mapping[str, int]  # nano-USD per call
    tiers: Mapping[str, Fraction]
    # The operator's rule for what the table lacks (`accounting.allow_unpriced`): a call
    # that would use an unpriced model or hosted tool is served (flagged) or refused.
    allow_unpriced: bool = False
    _tier_memo: dict[frozenset[str], Fraction] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or of its undated name (``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
        price = self.models.get(model)
        if price is None and model in self.tools:
            return FEE_ONLY  # a call charged one fee: its units are the fee's tool name
        if price is None:
            undated = _DATED.sub("", model)
            if undated != model:
                price = self.models.get(undated)
        return price

    def tier_multiplier(self, tier: str | None) -> Fraction:
        """The multiplier of the tier a response reports (``fast`` is billed as priority)."""
        return self.tiers.get(SERVED_AS.get(tier, tier), _ONE) if tier else _ONE

    def knows_tier(self, tier: str) -> bool:
        """A tier a call may ask for knowing what it costs: standard, or one in the table."""
        return tier in _STANDARD or SERVED_AS.get(tier, tier) in self.tiers

    @cached_property
    def dearest_tier(self) -> Fraction:
        """The highest multiplier of any tier, never below standard: a call that may be
        served at any tier (``auto``) is bounded at this."""
        return max([_ONE, *self.tiers.values()])

    def bound_tier(self, tiers: frozenset[str] | None) -> Fraction:
        """The multiplier a call's bound is taken at: the dearest of the tiers it may be
        served at (None: any), never below standard (a discount is not counted on)."""
        if tiers is None:
            return self.dearest_tier
        found = self._tier_memo.get(tiers)  # a tenant's list, or one tier: a handful of sets
        if found is None:
            found = max([_ONE, *(self.tiers.get(SERVED_AS.get(t, t), _ONE) for t in tiers)])
            if len(self._tier_memo) < _MEMO_SIZE:
                self._tier_memo[tiers] = found
        return found

    def unpriced_tools(self, tools: Iterable[str]) -> list[str]:
        """The hosted tools of ``tools`` the table has no fee for, sorted (empty when the
        operator serves unpriced calls)."""
        if self.allow_unpriced:
            return []
        return sorted(t for t in tools if t not in self.tools)


_ONE = Fraction(1)
# A requested tier and the tier its response reports (and is billed at), where they differ.
SERVED_AS = {"fast": "priority"}
_STANDARD = frozenset({"auto", "default"})
_MEMO_SIZE = 256  # billed at 1 unless served at another tier
FEE_ONLY = ModelPrice(input=0, cached_input=0, output=None)
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def per_token_nanos(usd_per_million: Decimal) -> int:
    return math.ceil(usd_per_million * 1000)


def per_call_nanos(usd: Decimal) -> int:
    return math.ceil(usd * NANOS_PER_USD)


def compile_pricing(spec: PricingFile) -> PriceTable:
    def opt(value: Decimal | None) -> int | None:
        return None if value is None else per_token_nanos(value)

    models = {}
    for name, p in spec.models.items():
        models[name] = ModelPrice(
            input=per_token_nanos(p.input),
            cached_input=per_token_nanos(p.cached_input if p.cached_input is not None else p.input),
            output=opt(p.output),
            audio_input=opt(p.audio_input),
            cached_audio_input=opt(p.cached_audio_input),
            audio_output=opt(p.audio_output),
            image_input=opt(p.image_input),
            units={unit: per_call_nanos(usd) for unit, usd in p.units.items()},
        )
    return PriceTable(
        version=spec.version,
        as_of=spec.as_of,
        models=models,
        tools={name: per_call_nanos(usd) for name, usd in spec.tools.items()},
        tiers={name: Fraction(m) for name, m in spec.service_tiers.items()},
    )


EMPTY = PriceTable(version="none", as_of=date(1970, 1, 1), models={}, tools={}, tiers={})


def load_pricing(path: str | Path) -> PriceTable:
    return compile_pricing(load_yaml_file(path, PricingFile))
