"""decide: what follows an attempt, as a table of (plan, what was tried) → next step."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.config import compile_config, parse_config
from gateway.pipeline.decide import Next, Step, Tried, backoff, decide
from gateway.routing import NO_FEATURES, Plan, plan
from gateway.yamlfile import ConfigError

CONFIG = """
models: {small: {}, large: {}}
routes:
  default:
    ladder: [small, large]
    escalate_on: [upstream_error, incomplete]
  strict:
    ladder: [small, large]
    escalate_on: [invalid_json, schema_mismatch]
  fixing:
    ladder: [small, large]
    escalate_on: [invalid_json, schema_mismatch]
    on_invalid_json: [repair, escalate]
  fix_only:
    ladder: [small, large]
    escalate_on: [invalid_json, schema_mismatch]
    on_invalid_json: [repair]
tenants: {t: {models: ["*"]}}
"""
CFG = compile_config(parse_config(CONFIG), {})
LADDER: Plan = plan(CFG, "default", NO_FEATURES, "k")
STRICT: Plan = plan(CFG, "strict", NO_FEATURES, "k")
FIXING: Plan = plan(CFG, "fixing", NO_FEATURES, "k")
FIX_ONLY: Plan = plan(CFG, "fix_only", NO_FEATURES, "k")
ONE: Plan = plan(CFG, "small", NO_FEATURES, "k")
FIRST = Tried(rung=0, retries=0, reasons=(), have_answer=True, max_retries=2, circuit_open=False)


def tried(**changes: object) -> Tried:
    return dataclasses.replace(FIRST, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("route_plan", "attempt", "step"),
    [
        # A good answer goes out.
        (LADDER, tried(), Step(Next.DELIVER)),
        # Transient failures retry on the same rung while retries last...
        (LADDER, tried(reasons=("upstream_error",), have_answer=False), Step(Next.RETRY)),
        (LADDER, tried(reasons=("timeout",), have_answer=False), Step(Next.RETRY)),
        (LADDER, tried(reasons=("rate_limited",), retries=1), Step(Next.RETRY)),
        # ...then escalate when the route escalates on the reason...
        (
            LADDER,
            tried(reasons=("upstream_error",), retries=2, have_answer=False),
            Step(Next.ESCALATE, "upstream_error"),
        ),
        # ...and not while the upstream's circuit is open: straight to the next rung.
        (
            LADDER,
            tried(reasons=("upstream_error",), circuit_open=True, have_answer=False),
            Step(Next.ESCALATE, "upstream_error"),
        ),
        # Quality reasons are not retried: they escalate, or the answer stands.
        (LADDER, tried(reasons=("incomplete",)), Step(Next.ESCALATE, "incomplete")),
        (LADDER, tried(reasons=("refusal",)), Step(Next.DELIVER)),
        # The first reason decides a retry; any reason the route names escalates.
        (
            LADDER,
            tried(reasons=("refusal", "incomplete")),
            Step(Next.ESCALATE, "incomplete"),
        ),
        # The top rung cannot escalate: the last answer beats an error, else the error.
        (LADDER, tried(rung=1, reasons=("incomplete",)), Step(Next.DELIVER)),
        (
            LADDER,
            tried(rung=1, reasons=("upstream_error",), retries=2, have_answer=False),
            Step(Next.FAIL),
        ),
        # A model named directly has a ladder of one and escalates on nothing.
        (ONE, tried(reasons=("incomplete",)), Step(Next.DELIVER)),
        (ONE, tried(reasons=("upstream_error",), retries=2, have_answer=False), Step(Next.FAIL)),
        # No reason and no answer (nothing to deliver): the attempt's error.
        (ONE, tried(have_answer=False), Step(Next.FAIL)),
        # Broken JSON escalates by default, as `escalate_on` says...
        (STRICT, tried(reasons=("invalid_json",)), Step(Next.ESCALATE, "invalid_json")),
        # ...a repairing route first asks the same model once, per rung...
        (FIXING, tried(reasons=("invalid_json",)), Step(Next.REPAIR, "invalid_json")),
        (FIXING, tried(reasons=("schema_mismatch",)), Step(Next.REPAIR, "schema_mismatch")),
        (
            FIXING,
            tried(reasons=("schema_mismatch",), repaired=True),
            Step(Next.ESCALATE, "schema_mismatch"),
        ),
        (FIXING, tried(rung=1, reasons=("invalid_json",)), Step(Next.REPAIR, "invalid_json")),
        (FIXING, tried(rung=1, reasons=("invalid_json",), repaired=True), Step(Next.DELIVER)),
        # ...but not a truncated answer: its repair would be cut too.
        (
            FIXING,
            tried(reasons=("incomplete", "invalid_json")),
            Step(Next.ESCALATE, "invalid_json"),
        ),
        # Without `escalate`, broken JSON never escalates, whatever `escalate_on` says.
        (FIX_ONLY, tried(reasons=("invalid_json",)), Step(Next.REPAIR, "invalid_json")),
        (FIX_ONLY, tried(reasons=("invalid_json",), repaired=True), Step(Next.DELIVER)),
        # A transient failure of the repair attempt is retried like any other.
        (
            FIXING,
            tried(reasons=("upstream_error",), repaired=True, have_answer=True),
            Step(Next.RETRY),
        ),
    ],
)
def test_the_next_step(route_plan: Plan, attempt: Tried, step: Step) -> None:
    assert decide(route_plan, attempt) == step


UPSTREAM = CFG.upstreams[next(iter(CFG.upstreams))]


def top(low: float, high: float) -> float:
    return high


def test_backoff_doubles_from_the_base_up_to_the_ceiling_with_full_jitter() -> None:
    base, ceiling = UPSTREAM.retry_base_s, UPSTREAM.retry_max_s
    waits = [backoff(UPSTREAM, n, None, LADDER, top) for n in (1, 2, 3, 30)]
    assert waits[:3] == [min(ceiling, base), min(ceiling, base * 2), min(ceiling, base * 4)]
    assert waits[3] == ceiling
    assert backoff(UPSTREAM, 3, None, LADDER, lambda low, high: low) == 0, "full jitter"


def test_a_short_retry_after_is_honoured_and_a_long_or_broken_one_is_not() -> None:
    short = str(LADDER.retry_after_max_s).encode()
    assert backoff(UPSTREAM, 1, short, LADDER, top) == LADDER.retry_after_max_s
    long = str(LADDER.retry_after_max_s + 1).encode()
    assert backoff(UPSTREAM, 1, long, LADDER, top) == min(
        UPSTREAM.retry_max_s, UPSTREAM.retry_base_s
    )
    assert backoff(UPSTREAM, 1, b"soon", LADDER, top) == min(
        UPSTREAM.retry_max_s, UPSTREAM.retry_base_s
    )


@pytest.mark.parametrize("remedies", [["escalate", "repair"], ["repair", "repair"]])
def test_repair_comes_first_and_once(remedies: list[str]) -> None:
    text = CONFIG.replace("on_invalid_json: [repair]", f"on_invalid_json: {remedies}")
    with pytest.raises(ConfigError, match="on_invalid_json"):
        parse_config(text)
