"""Redis's CPU per budgeted call against how many calls a replica has in flight.

The shared quota sends one ``ADMIT`` per tenant per courier round (its
releases, then its admits) and one ``SETTLE`` per tenant per ledger commit, so
Redis's cost per call falls as more calls share a round. `bench/scale.py`
measures one saturated replica (wrk at 64 connections); this drives
`RedisQuota` itself, in-process, with ``K`` callers each admitting and settling
in a loop (the ledger commits every 0.2 s, as the real writer does), for
several ``K``, and reports Redis server CPU and this process's CPU per call.
What a fleet costs Redis follows from each replica's calls in flight: at low
rates a replica's rounds carry one call each, and Redis has CPU to spare.

Usage: ``bench/quota_rounds.py [--callers 1,4,16,64] [--calls 20000]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from procs import Supervisor, cpu_seconds  # noqa: E402
from scale import _redis  # noqa: E402

from gateway.config.runtime import BudgetLimit, Policy  # noqa: E402
from gateway.quota.orphans import CounterKey, Orphan  # noqa: E402
from gateway.quota.shared import RedisQuota  # noqa: E402

USD = 1_000_000_000
POLICY = Policy(
    enabled=True,
    allowed_models=frozenset({"m"}),
    rpm=10**8,
    tpm=10**11,
    concurrent=10**6,
    budgets=(BudgetLimit("day", None, 10**6 * USD), BudgetLimit("month", None, 10**7 * USD)),
)


class Ledger:
    """Rows are "committed" every 0.2 s, as `gateway.ledger.Ledger` commits its batches."""

    def __init__(self) -> None:
        self.position = self.committed = 0
        self._wake = lambda: None

    def on_commit(self, callback: object) -> None:
        self._wake = callback  # type: ignore[assignment]

    def recorded_cost(self, refs: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {}

    def record_orphan(self, orphan: Orphan) -> None:
        pass

    def read(self) -> dict[CounterKey, int]:
        return {}

    async def commit_every(self, seconds: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(seconds)
            self.committed = self.position
            self._wake()


async def measure(url: str, redis_pid: int, callers: int, calls: int) -> tuple[float, float]:
    ledger = Ledger()
    quota = RedisQuota(url, ZoneInfo("UTC"))
    await quota.start(ledger.read, ledger)  # type: ignore[arg-type]
    stop = asyncio.Event()
    committer = asyncio.create_task(ledger.commit_every(0.2, stop))

    async def caller(n: int) -> None:
        for i in range(n):
            ticket = await quota.admit(
                "t", "m", POLICY, bound=80_000, tokens=100, now=time.time(), ref=(f"r{i}", 1)
            )
            await asyncio.sleep(0)  # the call's work
            ledger.position += 1
            quota.settle(ticket, 3_000, 50, time.time())

    await asyncio.gather(*(caller(200) for _ in range(callers)))  # warm-up
    redis_before, own_before = cpu_seconds(redis_pid), time.process_time()
    await asyncio.gather(*(caller(calls // callers) for _ in range(callers)))
    stop.set()
    await committer
    ledger.committed = ledger.position
    ledger._wake()
    await quota.drain()
    done = calls // callers * callers
    redis_us = (cpu_seconds(redis_pid) - redis_before) * 1e6 / done
    own_us = (time.process_time() - own_before) * 1e6 / done
    await quota.aclose()
    return redis_us, own_us


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", default="1,4,16,64")
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    sup = Supervisor(Path("/tmp") / "gateway-bench-quota-rounds")
    try:
        port, pid = _redis(sup)
        url = f"redis://127.0.0.1:{port}/0"
        print("| calls in flight | Redis CPU µs/call | gateway (this process) CPU µs/call |")
        print("|---|---|---|")
        for k in (int(x) for x in args.callers.split(",")):
            redis_us, own_us = asyncio.run(measure(url, pid, k, args.calls))
            print(f"| {k} | {redis_us:.1f} | {own_us:.1f} |", flush=True)
    finally:
        sup.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
