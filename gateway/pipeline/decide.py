"""After an attempt: retry, escalate, deliver or fail — a pure function of plan and outcome.

Retry is for transient failures (the upstream failed, timed out or
throttled) while the upstream's circuit is closed and retries are left.
Structured output that does not parse or fit its schema is first repaired
(the same model, once per rung) where the route's ``on_invalid_json`` says
so. Escalation moves up the ladder for the reasons the route escalates on. An
answer that is good enough is delivered; failing everything else, the last
real answer beats an error, and with none the attempt's error is the answer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config.runtime import Upstream
from gateway.routing import Plan

RETRYABLE = frozenset({"upstream_error", "timeout", "rate_limited"})
BAD_JSON = frozenset({"invalid_json", "schema_mismatch"})


class Next(enum.Enum):
    DELIVER = "deliver"  # the last answer goes to the client
    RETRY = "retry"  # the same model again, after a backoff
    REPAIR = "repair"  # the same model again, shown its broken JSON and the error
    ESCALATE = "escalate"  # the next rung of the ladder
    FAIL = "fail"  # no answer at all: the attempt's error goes to the client


@dataclass(frozen=True, slots=True)
class Step:
    next: Next
    reason: str | None = None  # why it escalates or repairs


@dataclass(frozen=True, slots=True)
class Tried:
    """Where the request is on its ladder, and what its last attempt found."""

    rung: int
    retries: int  # retries on this rung so far
    reasons: tuple[str, ...]  # from `gateway.routing.classify`; () means good enough
    have_answer: bool  # some attempt (this or an earlier one) produced a real answer
    max_retries: int
    circuit_open: bool
    repaired: bool = False  # this rung has had its one repair


def decide(plan: Plan, tried: Tried) -> Step:
    reasons = tried.reasons
    if not reasons and tried.have_answer:
        return Step(Next.DELIVER)
    retryable = bool(reasons) and reasons[0] in RETRYABLE and not tried.circuit_open
    if retryable and tried.retries < tried.max_retries:
        return Step(Next.RETRY)
    bad_json = next((r for r in reasons if r in BAD_JSON), None)
    # A truncated answer is not fixed by asking again: its repair would be cut too.
    repairable = "repair" in plan.on_invalid_json and not tried.repaired
    if bad_json and repairable and "incomplete" not in reasons:
        return Step(Next.REPAIR, bad_json)
    escalates = plan.escalate_on
    if "escalate" not in plan.on_invalid_json:
        escalates = escalates - BAD_JSON
    escalate = next((r for r in reasons if r in escalates), None)
    if escalate is not None and tried.rung + 1 < len(plan.ladder):
        return Step(Next.ESCALATE, escalate)
    return Step(Next.DELIVER if tried.have_answer else Next.FAIL)


def backoff(
    upstream: Upstream,
    retry: int,
    retry_after: bytes | None,
    plan: Plan,
    uniform: Callable[[float, float], float],
) -> float:
    """Exponential backoff with full jitter; an upstream's short ``Retry-After`` is honoured."""
    if retry_after is not None:
        try:
            wait = float(retry_after)
        except ValueError:
            wait = None
        if wait is not None and wait <= plan.retry_after_max_s:
            return wait
    ceiling = min(upstream.retry_max_s, upstream.retry_base_s * 2 ** (retry - 1))
    return uniform(0, ceiling)
