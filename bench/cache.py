"""What the response cache costs a request: the lookup in CPU µs, and a hit against a miss.

Part 1, in-process, process CPU clock: for a typical ~2 KB Responses request,
the eligibility check and key (`gateway.cache.key`: canonical JSON with sorted
keys, BLAKE2b), an in-memory get, and a Redis get (this process's CPU and the
wall time of the round trip, against a local redis-server), plus encoding and
decoding a ~3 KB answer for Redis (zlib level 1).

Part 2, end to end: a gateway (the tests' harness: uvicorn in a thread) in
front of the fake upstream, answering sequential SDK-shaped HTTP requests; the
median wall time of a request whose tenant has no cache, of a miss (lookup,
upstream call, answer kept) and of a hit (no upstream call). The fake answers
at once, so a real upstream's seconds come on top of the first two.

Usage: ``bench/cache.py [--lookups N] [--requests N] [--no-e2e]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from procs import per_call_us  # noqa: E402

from gateway.cache.key import RESPONSES, cache_key, refusal  # noqa: E402
from gateway.cache.store import Entry, MemoryStore, RedisStore  # noqa: E402
from gateway.quota.shared.connection import connect  # noqa: E402

SYSTEM = "You are a support assistant for ACME. Answer briefly and cite the policy section. " * 12
BODY: dict[str, Any] = {
    "model": "gpt-5-nano",
    "store": False,
    "instructions": SYSTEM,  # ~1 KB
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Where is my order? " * 20}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Let me check. " * 20}]},
        {"role": "user", "content": [{"type": "input_text", "text": "Order 12345, thanks."}]},
    ],
    "temperature": 0.2,
    "max_output_tokens": 512,
    "metadata": {"feature": "support", "env": "prod"},
}
ANSWER = Entry(
    False, "gpt-5-nano-2025-08-07", b'{"output_text": "' + b"Your order ships. " * 170 + b'"}', 2e9
)


async def async_us(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """Best of 3 runs of ``n`` awaited calls: (CPU µs, wall µs) per call."""
    best_cpu = best_wall = float("inf")
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu / n * 1e6, best_wall / n * 1e6


def lookup_figures(n: int) -> None:
    import orjson

    size = len(orjson.dumps(BODY))
    key = cache_key("acme", RESPONSES, "gpt-5-nano", BODY)
    print(f"Request body {size} bytes; answer {len(ANSWER.body)} bytes.\n")
    print("| step | CPU µs | wall µs |")
    print("|---|---|---|")
    check = per_call_us(lambda: refusal(RESPONSES, BODY, False), n)
    print(f"| eligibility check | {check:.2f} | |")
    keyed = per_call_us(lambda: cache_key("acme", RESPONSES, "gpt-5-nano", BODY), n)
    print(f"| key (sorted JSON + BLAKE2b-128) | {keyed:.2f} | |")
    print(f"| encode answer for Redis | {per_call_us(ANSWER.encode, n // 10):.2f} | |")
    raw = ANSWER.encode()
    print(f"| decode answer from Redis | {per_call_us(lambda: Entry.decode(raw), n // 10):.2f} | |")

    async def stores() -> None:
        memory = MemoryStore(lambda: 64 * 1024**2)
        await memory.put("acme", key, ANSWER, 60)
        cpu, wall = await async_us(lambda: memory.get("acme", key, 0), n)
        print(f"| memory get (hit) | {cpu:.2f} | {wall:.2f} |")
        from redis_server import RedisServer

        with RedisServer() as server:
            redis = RedisStore(connect(server.url))
            await redis.put("acme", key, ANSWER, 60)
            cpu, wall = await async_us(lambda: redis.get("acme", key, 0), n // 20)
            print(f"| Redis get (hit, local server) | {cpu:.1f} | {wall:.1f} |")
            cpu, wall = await async_us(lambda: redis.get("acme", "absent", 0), n // 20)
            print(f"| Redis get (miss) | {cpu:.1f} | {wall:.1f} |")
            await redis.aclose()

    asyncio.run(stores())


def e2e_figures(n: int) -> None:
    import httpx
    from harness import GatewayServer, config_dict

    from fake_openai import FakeOpenAIServer

    on = {"mode": "on", "ttl_s": 600}
    tenants = {
        "plain": {"models": ["*"], "store": False},
        "cached": {"models": ["*"], "store": False, "cache": on},
    }
    with (
        FakeOpenAIServer(api_key="sk-upstream-TOPSECRET-9f8e7d6c5b4a39281706") as fake,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = config_dict(fake.base_url, tenants=tenants)
        with GatewayServer(config, database_url=f"sqlite:///{tmp}/g.db") as gw:

            def timed(tenant: str, body: Callable[[int], dict[str, Any]]) -> float:
                headers = {"Authorization": f"Bearer {gw.token(tenant)}"}
                took = []
                with httpx.Client(base_url=gw.base_url, headers=headers) as client:
                    for i in range(n):
                        start = time.perf_counter()
                        r = client.post("/responses", json=body(i))
                        took.append(time.perf_counter() - start)
                        assert r.status_code == 200, r.text
                return statistics.median(took) * 1000

            off = timed("plain", lambda i: {**BODY, "input": f"off {i}"})
            miss = timed("cached", lambda i: {**BODY, "input": f"miss {i}"})
            timed("cached", lambda i: BODY)  # the first one keeps it
            hit = timed("cached", lambda i: BODY)
    print(f"\nEnd to end, median of {n} sequential requests (fake upstream answers at once):\n")
    print("| request | ms |\n|---|---|")
    print(
        f"| no cache (tenant off) | {off:.2f} |\n| miss (kept) | {miss:.2f} |\n| hit | {hit:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-e2e", action="store_true")
    args = parser.parse_args()
    lookup_figures(args.lookups)
    if not args.no_e2e:
        e2e_figures(args.requests)


if __name__ == "__main__":
    main()
