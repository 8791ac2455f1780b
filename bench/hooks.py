"""What the per-call hooks added by the guardrails (#20) and migrations (#21) cost a call that
uses none of them, in CPU µs, measured in-process.

A tenant with no guardrails and a route without a shadow still passes each hook once per
call: the deprecation lookup while planning (against the shipped `deprecations:` list), the
redaction and moderation checks (off), the response cache's eligibility (off), the tool-call
count of the answer, and the shadow check. Each is timed on the `responses` scenario's
request and answer with the process CPU clock; planning is timed with and without the
deprecations list, so its difference is the lookup's cost.

Usage: ``bench/hooks.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procs import per_call_us  # noqa: E402

from gateway.auth.callers import Caller  # noqa: E402
from gateway.auth.principal import Principal  # noqa: E402
from gateway.cache.respond import ResponseCache  # noqa: E402
from gateway.cache.store import MemoryStore  # noqa: E402
from gateway.config import load_runtime  # noqa: E402
from gateway.guardrails.moderation import pre_check  # noqa: E402
from gateway.guardrails.pii.policy import redact  # noqa: E402
from gateway.guardrails.toolcalls import called  # noqa: E402
from gateway.metering.outcome import Outcome  # noqa: E402
from gateway.pipeline.context import RequestContext  # noqa: E402
from gateway.pipeline.prepare import plan_call  # noqa: E402
from gateway.shapes.responses import RESPONSES  # noqa: E402
from gateway.telemetry.metrics import Metrics  # noqa: E402

T = TypeVar("T")
BODY = {"model": "default", "input": "hello"}
RAW = b'{"model": "default", "input": "hello"}'
ANSWER = {
    "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5-nano",
    "output": [{"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Fake answer: hello"}]}],
    "usage": {"input_tokens": 1, "output_tokens": 7},
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    n = parser.parse_args().requests
    env = {**os.environ, "GATEWAY_JWT_SECRET": "x" * 64}
    config = load_runtime(ROOT / "config" / "gateway.yaml", env)
    assert config.source.deprecations, "the shipped config lists deprecations"
    bare = dataclasses.replace(config, source=config.source.model_copy(update={"deprecations": {}}))
    principal = Principal("search", "bench", False, 0.0)
    policy = config.policy_for("search")
    assert policy is not None
    caller = Caller(principal, policy)

    def plan(cfg: object) -> object:
        return plan_call(cfg, caller, RESPONSES, dict(BODY), RAW, split_key="k")  # type: ignore[arg-type]

    prepared = plan_call(config, caller, RESPONSES, dict(BODY), RAW, split_key="k")
    metrics = Metrics()
    outcome = Outcome(status=200, body=ANSWER)
    cache = ResponseCache(MemoryStore(lambda: 0), metrics)
    ctx = RequestContext.start("POST", "/v1/responses")

    def redaction() -> object:
        return _done(redact(prepared, metrics, "req"))

    def moderation() -> object:
        return _done(pre_check(None, prepared, ctx))  # type: ignore[arg-type]

    rows = [
        ("plan, with the shipped deprecations", per_call_us(lambda: plan(config), n)),
        ("plan, with no deprecations", per_call_us(lambda: plan(bare), n)),
        ("redaction (off)", per_call_us(redaction, n)),
        ("moderation pre-check (off)", per_call_us(moderation, n)),
        ("response cache eligibility (off)", per_call_us(lambda: cache.key_of(None, prepared), n)),  # type: ignore[arg-type]
        ("tool-call names of the answer", per_call_us(lambda: called("responses", outcome), n)),
        ("shadow check (no shadow)", per_call_us(lambda: prepared.plan.shadow is not None, n)),
    ]
    print("| hook | CPU µs per call |\n|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")
    print(f"\nDeprecation lookup: {rows[0][1] - rows[1][1]:.2f} µs per call")
    return 0


def _done(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (a hook that is off) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("a hook that is off never waits")


if __name__ == "__main__":
    raise SystemExit(main())
