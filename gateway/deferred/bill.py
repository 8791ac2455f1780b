"""What a call that ran upstream after its answer (a batch) used, and its bill (pure).

The ended object reports its usage (a batch's ``usage``, in the Responses
shape). An object that does not is billed from its output file's lines when
there is one; when nothing says what ran, it is billed its bound, marked
estimated: the gateway never guesses low.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.deferred.table import PendingCharge
from gateway.metering.usage import Usage, from_responses
from gateway.pricing import PriceTable, cost_of


@dataclass(frozen=True, slots=True)
class Bill:
    usage: Usage
    cost: int  # nano-USD
    outcome: str  # the object's final status
    served_model: str | None
    estimated: bool
    unpriced: bool

    def ledger_values(self) -> dict[str, Any]:
        """The pending ledger row's new values."""
        u = self.usage
        return {
            "outcome": self.outcome,
            "served_model": self.served_model,
            "input_tokens": u.input_tokens,
            "cached_input_tokens": u.cached_input_tokens,
            "output_tokens": u.output_tokens,
            "reasoning_tokens": u.reasoning_tokens,
            "tool_calls": u.tool_calls,
            "cost_nanos": self.cost,
            "estimated": self.estimated,
            "unpriced": self.unpriced,
        }


def ran_nothing(answer: Mapping[str, Any]) -> bool:
    """A batch none of whose requests ran, or a response cancelled before it made output."""
    counts = answer.get("request_counts")
    if isinstance(counts, dict):
        return not counts.get("completed") and not counts.get("failed")
    return answer.get("status") == "cancelled" and not answer.get("output")


def bill(
    charge: PendingCharge,
    answer: Mapping[str, Any],
    pricing: PriceTable,
    tier: str | None,
    output: bytes | None = None,
) -> Bill:
    """The bill of an ended object; ``output`` is its output file, read when it has no usage."""
    status = answer.get("status")
    outcome = status if isinstance(status, str) else "ended"
    model = answer.get("model")
    served = model if isinstance(model, str) else None
    reported = answer.get("usage")
    if isinstance(reported, dict):
        usage: Usage | None = from_responses(reported, answer)  # + hosted-tool calls shown
    elif output is not None:
        usage = usage_of_lines(output)
    else:
        usage = Usage() if ran_nothing(answer) else None
    if usage is None:  # nothing says what ran: the bound, as the most it could be
        return Bill(Usage(), charge.bound_nanos, outcome, served, True, False)
    price = pricing.price_for(served or "") or pricing.price_for(charge.model)
    if price is None:
        return Bill(usage, charge.bound_nanos, outcome, served, True, True)
    if tier is None:  # billed at the tier the object says it ran at
        served_tier = answer.get("service_tier")
        tier = served_tier if isinstance(served_tier, str) else None
    multiplier = pricing.tier_multiplier(tier)
    cost = cost_of(usage, price, pricing.tools, multiplier)
    return Bill(usage, cost.nanos, outcome, served, False, not cost.complete)


def usage_of_lines(output: bytes) -> Usage:
    """Summed over an output file's lines (``response.body.usage``, any API's dialect)."""
    totals = {"input": 0, "cached": 0, "output": 0, "reasoning": 0}
    for line in output.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        response = entry.get("response") if isinstance(entry, dict) else None
        body = response.get("body") if isinstance(response, dict) else None
        usage = body.get("usage") if isinstance(body, dict) else None
        if isinstance(usage, dict):
            _add(totals, usage)
    return from_responses(
        {
            "input_tokens": totals["input"],
            "input_tokens_details": {"cached_tokens": totals["cached"]},
            "output_tokens": totals["output"],
            "output_tokens_details": {"reasoning_tokens": totals["reasoning"]},
        }
    )


def _add(totals: dict[str, int], usage: Mapping[str, Any]) -> None:
    """Responses say input/output tokens; Chat and Embeddings prompt/completion tokens."""
    details = usage.get("input_tokens_details") or usage.get("prompt_tokens_details") or {}
    out = usage.get("output_tokens_details") or usage.get("completion_tokens_details") or {}
    totals["input"] += _count(usage.get("input_tokens", usage.get("prompt_tokens")))
    totals["output"] += _count(usage.get("output_tokens", usage.get("completion_tokens")))
    totals["cached"] += _count(details.get("cached_tokens") if isinstance(details, dict) else 0)
    totals["reasoning"] += _count(out.get("reasoning_tokens") if isinstance(out, dict) else 0)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def next_check_s(checks: int, first_s: float, most_s: float) -> float:
    """How long until the next look at a running object: doubling, from ``first_s`` to
    ``most_s`` (a 24-hour batch is asked about a few hundred times at most)."""
    return min(most_s, first_s * math.pow(2, min(checks, 20)))
