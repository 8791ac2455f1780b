"""The courier: one task sends what the request path queued, one pipeline per round trip.

The admits waiting and the queued releases and settles all go in one
pipeline, so under load many calls share one round trip and one connection,
and the metering ``finally`` never waits on Redis. Within a round, a tenant's
releases and admits go in one ``ADMIT`` script call and its settles in one
``SETTLE`` (`rounds`), so Redis pays a script's fixed cost once per tenant
per round, not once per call. A call's concurrency share
goes back at once; its cost moves into the budget only after its ledger row
is committed, so Redis never counts spend the ledger does not have, even
across a SIGKILL. While Redis is unreachable, releases and settles wait here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from gateway.quota.orphans import LedgerLink
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.liveness import RETRY_DOWN_S, Health
from gateway.quota.shared.reseed import Spend
from gateway.quota.shared.rounds import Batch, Op, batches
from gateway.quota.shared.scripts import Call, Part, Scripts

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 1.0  # longest a request waits on Redis before its tenant's when_store_down
BATCH = 500  # most calls, and most releases and settles, in one pipeline


def connect(url: str) -> aioredis.Redis:
    # The courier holds one connection; the heartbeats and status reads take a few
    # more. Blocking: a burst of status reads waits instead of failing like an outage.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=16, timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S,
    )  # fmt: skip
    pool.connection_class = _hiredis_packing(pool.connection_class)
    return aioredis.Redis(connection_pool=pool)


def _hiredis_packing(base: type[Any]) -> type[Any]:
    """The URL's connection class, packing commands with hiredis (C) instead of Python.

    redis-py's asyncio client packs in Python: about 50 µs of CPU for an admit's
    twenty arguments, the largest cost per call in `bench/metering.py`.
    """

    def pack_command(self: Any, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD": two words on the wire
            args = (*args[0].split(), *args[1:])
        return [hiredis.pack_command(args)]

    return type(f"Hiredis{base.__name__}", (base,), {"pack_command": pack_command})


class Courier:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        run: Scripts,
        health: Health,
        missed: Callable[[Spend], None],
        gone: asyncio.Event,
        clock: Callable[[], float],
    ) -> None:
        self._redis, self._keys, self._scripts, self._health = redis, keys, run, health
        self._missed, self._gone, self._clock = missed, gone, clock
        self._calls: deque[Op] = deque()  # admits and session opens, awaited
        self._ops: deque[Op] = deque()  # releases and settles: sent, retried, not awaited
        self._after_ledger: deque[Op] = deque()  # budget settles, each behind its ledger row
        self._wake = asyncio.Event()
        self._called = asyncio.Event()  # a call is waiting: cuts a retry backoff short
        self._idle = asyncio.Event()  # set while no settle is queued
        self._idle.set()
        self._ledger: LedgerLink | None = None

    def call(self, call: Call | Part) -> Op:
        """Queue a script whose caller waits for its answer (`answer`)."""
        op = Op(call, asyncio.get_running_loop().create_future())
        self._calls.append(op)
        self._called.set()
        self._wake.set()
        return op

    async def answer(self, op: Op) -> object:
        if self._gone.is_set():
            raise RedisError("the quota store is closed")
        assert op.answer is not None
        try:  # the courier answers within the socket timeout; this bounds one that died
            return await asyncio.wait_for(asyncio.shield(op.answer), 4 * REDIS_TIMEOUT_S)
        except TimeoutError:
            raise RedisError("the quota courier did not answer") from None

    def send(self, call: Call | Part) -> None:
        """Queue a script nobody waits for (sent, and retried while Redis is away)."""
        self._ops.append(Op(call))
        self._idle.clear()
        self._wake.set()

    def after_row(self, call: Part, spend: Spend) -> None:
        """Queue a budget settle, to go once its ledger row (``spend.position``) is committed."""
        self._after_ledger.append(Op(call, position=spend.position, spend=spend))
        self._idle.clear()
        if self._ledger is not None and spend.position <= self._ledger.committed:
            self._wake.set()  # committed already: no commit is coming to wake the courier

    def wake(self) -> None:
        self._wake.set()

    def unsent(self) -> int:
        return len(self._ops) + len(self._after_ledger)

    async def drain(self) -> None:
        """Wait until every queued settle has reached Redis (after its ledger row)."""
        await self._idle.wait()

    async def run(self, ledger: LedgerLink) -> None:
        """Send what is waiting, one pipeline per round trip; keep settles while Redis is down."""
        self._ledger = ledger
        backoff, failures = 0.05, 0
        while True:
            calls = [op for op in self._take(self._calls, BATCH) if not op.skip]
            for op in calls:
                op.sent = True
            ops = [*self._take(self._ops, BATCH), *self._committed_settles(ledger, BATCH)]
            if not calls and not ops:
                if not self._ops and not self._after_ledger:
                    self._idle.set()
                if self._gone.is_set() and not self._after_ledger:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._send(calls, ops)
                backoff, failures = 0.05, 0
            except RedisError as exc:
                for op in calls:  # their requests fall back now, as the tenant says
                    op.fail(exc)
                self._ops.extendleft(reversed(ops))
                self._health.went_down(exc)
                failures += 1
                if self._gone.is_set() and failures > 3:
                    return  # shutting down and Redis stays away: aclose reports what is left
                self._called.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._called.wait(), backoff)
                backoff = min(backoff * 2, RETRY_DOWN_S)
            except Exception as exc:  # a bug: the courier must live on, or every admit hangs
                log.exception(
                    "quota courier failed; %d settles dropped (their holds stay)", len(ops)
                )
                for op in calls:
                    op.fail(RedisError(f"quota courier failed: {exc!r}"))

    @staticmethod
    def _take(queue: deque[Op], most: int) -> list[Op]:
        return [queue.popleft() for _ in range(min(len(queue), most))]

    def _committed_settles(self, ledger: LedgerLink, most: int) -> list[Op]:
        """Budget settles whose ledger rows are committed (rows commit in queue order)."""
        committed, now = ledger.committed, self._clock()
        out: list[Op] = []
        waiting = self._after_ledger
        while waiting and waiting[0].position <= committed and len(out) < most:
            op = waiting.popleft()
            if op.spend is not None:
                op.spend.committed_at = now  # at the latest
            out.append(op)
        return out

    async def _send(self, calls: list[Op], ops: list[Op]) -> None:
        # Releases and settles first: a call that ended frees its share for the admits
        # behind it. Every queued script is idempotent per ticket, so an op sent again
        # after a NOSCRIPT (Redis restarted) or a dropped connection counts once.
        pending = batches(self._keys, ops, calls)
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for batch in pending:
                self._scripts.add_to(pipe, batch.call)
            results = await pipe.execute(raise_on_error=False)
            again: list[Batch] = []
            for batch, result in zip(pending, results, strict=True):
                if isinstance(result, NoScriptError) and attempt == 1:
                    again.append(batch)
                elif isinstance(result, Exception) and not batch.answered:
                    log.error("quota %s failed in Redis: %s", batch.call.script, result)
                else:
                    batch.deliver(result, self._missed)
            if not again:
                return
            await self._scripts.load()
            pending = again
