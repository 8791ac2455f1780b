"""What PII and secret redaction adds to one request, in CPU µs, measured in-process.

Times what `gateway.guardrails.pii.policy.redact` runs on a Chat body before
admission: off (the mode check only), log/block (detect, count), mask (detect,
replace each value, serialize the body again), for a typical ~2 KB chat and a
large ~200 KB input, each with and without PII; and what restoring costs on
the way back (a JSON answer, and a stream of 4-character deltas). The process
CPU clock, median of ``--rounds`` rounds. A body is parsed before each round,
outside the clock (the gateway parses it anyway).

Usage: ``.venv/bin/python bench/pii.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.config.pii import PiiPolicy  # noqa: E402
from gateway.guardrails.pii.mask import Vault, mask_text  # noqa: E402
from gateway.guardrails.pii.policy import detector_for, scan  # noqa: E402
from gateway.guardrails.pii.restore import SseRestorer, restore_json  # noqa: E402

PROSE = (
    "The quarterly report covers revenue, churn and the migration of the billing service. "
    "Please review the attached numbers before Thursday's meeting and flag anything odd. "
)
CODE = (
    "def handler(event, context):\n    items = [x for x in event['items'] if x.get('ok')]\n"
    "    return {'count': len(items), 'version': '1.2.3.4', 'id': "
    "'123e4567-e89b-12d3-a456-426614174000'}\n"
)
JSON_DOC = '{"order": 10442, "status": "shipped", "weight_kg": 2.5, "build": "10.0.19045"}\n'
PII = [
    "alice.smith@example.org", "+44 20 7946 0958", "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32", "192.168.1.20", "AKIAIOSFODNN7EXAMPLE",
    "sk-proj-Xk29fLq8ZpR4mT7vN1bW6yH3cJ0dG5sAeU", "123-45-6789",
]  # fmt: skip


def text(size: int, items: int, seed: int) -> str:
    """Mixed prose, code and JSON of about ``size`` characters, with ``items`` PII values."""
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice((PROSE, PROSE, CODE, JSON_DOC)))
    for i in range(items):
        parts.insert(rng.randrange(len(parts)), f"contact {PII[i % len(PII)]} now. ")
    return "".join(parts)


def chat_body(content: str) -> bytes:
    return orjson.dumps({
        "model": "gpt-5-nano",
        "messages": [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": content}],
    })  # fmt: skip


def timed(rounds: int, raw: bytes, work: Callable[[dict[str, Any]], object]) -> float:
    """Median CPU µs of ``work`` on a freshly parsed body."""
    samples = []
    for _ in range(rounds):
        body = orjson.loads(raw)
        start = time.process_time_ns()
        work(body)
        samples.append((time.process_time_ns() - start) / 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=201)
    args = parser.parse_args()
    mask, detect = PiiPolicy(mode="mask"), PiiPolicy(mode="block")
    off = PiiPolicy()
    detector_for(frozenset(mask.entities))  # built once per policy, not per request
    inputs = {
        "typical 2 KB, 2 PII": chat_body(text(2000, 2, 1)),
        "typical 2 KB, no PII": chat_body(text(2000, 0, 1)),
        "large 200 KB, 50 PII": chat_body(text(200_000, 50, 2)),
        "large 200 KB, no PII": chat_body(text(200_000, 0, 2)),
    }
    print("| input | bytes | off µs | detect (log, block) µs | mask µs |")
    print("|---|---:|---:|---:|---:|")
    for name, raw in inputs.items():
        rounds = args.rounds if len(raw) < 10_000 else max(5, args.rounds // 20)
        t_off = timed(rounds, raw, lambda b: off.mode == "off")
        t_detect = timed(rounds, raw, lambda b: scan(b, detect, None))
        t_mask = timed(rounds, raw, lambda b: orjson.dumps(b) if scan(b, mask, Vault()) else b)
        print(f"| {name} | {len(raw)} | {t_off:.2f} | {t_detect:.0f} | {t_mask:.0f} |")
    restore_rows(args.rounds)


def restore_rows(rounds: int) -> None:
    """The way back: a JSON answer repeating two placeholders, and the same as a stream."""
    vault = Vault()
    masked, _ = mask_text(detector_for(frozenset(PiiPolicy().entities)), text(2000, 2, 1), vault)
    answer = orjson.dumps({"choices": [{"index": 0, "message": {"content": masked}}]})
    chunks = [
        b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": masked[i:i + 4]}}]})
        + b"\n\n"
        for i in range(0, len(masked), 4)
    ]  # fmt: skip

    def stream(_: dict[str, Any]) -> None:
        sse = SseRestorer(vault)
        for chunk in chunks:
            sse.feed(chunk)
        sse.flush()

    json_us = timed(rounds, answer, lambda b: orjson.dumps(restore_json(b, vault)))
    stream_us = timed(rounds, answer, stream)
    print(f"\nrestore, JSON answer of {len(answer)} bytes: {json_us:.0f} µs")
    print(f"restore, stream of {len(chunks)} chunks (4-char deltas): {stream_us:.0f} µs "
          f"({stream_us / len(chunks):.1f} µs a chunk)")  # fmt: skip


if __name__ == "__main__":
    main()
