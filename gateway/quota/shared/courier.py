"""The courier: one task sends what the request path queued, one pipeline per round trip.

The admits waiting and the queued releases and settles all go in one
pipeline, so under load many calls share one round trip and one connection,
and the metering ``finally`` never waits on Redis. Within a round, a tenant's
releases and admits go in one ``ADMIT`` script call and its settles in one
``SETTLE`` (`rounds`), so Redis pays a script's fixed cost once per tenant
per round, not once per call. A call's concurrency share goes back with the
next round (within `RELEASE_LINGER_S`); its cost moves into the budget only
after its ledger row is committed, so Redis never counts spend the ledger does not have, even
across a SIGKILL. While Redis is unreachable, releases and settles wait here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterDownError, NoScriptError, RedisError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.quota.orphans import LedgerLink
from gateway.quota.shared.connection import REDIS_TIMEOUT_S, STORE_ERRORS, Client
from gateway.quota.shared.health import RETRY_DOWN_S, Health
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.reseed import Spend
from gateway.quota.shared.rounds import Batch, Op, batches
from gateway.quota.shared.scripts import Call, Part, Scripts

log = logging.getLogger(__name__)

BATCH = 500  # most calls, and most releases and settles, in one pipeline
# A release waits this long for a round to ride in: on a replica with one call in flight,
# the next call's admit carries it (one script, one round trip, instead of two).
RELEASE_LINGER_S = 0.002


class Courier:
    def __init__(
        self,
        redis: Client,
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
        self._lingering: asyncio.TimerHandle | None = None

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
            async with asyncio.timeout(4 * REDIS_TIMEOUT_S):
                return await op.answer
        except TimeoutError:
            raise RedisError("the quota courier did not answer") from None

    def send(self, call: Call | Part, *, linger: bool = False) -> None:
        """Queue a script nobody waits for (sent, and retried while Redis is away); with
        ``linger``, in the next round, or on its own after `RELEASE_LINGER_S`."""
        self._ops.append(Op(call))
        self._idle.clear()
        if not linger:
            self._wake.set()
        elif self._lingering is None:
            self._lingering = asyncio.get_running_loop().call_later(
                RELEASE_LINGER_S, self._linger_over
            )

    def _linger_over(self) -> None:
        self._lingering = None
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
                failed = await self._send(calls, ops)  # what a down shard had is put back
            except STORE_ERRORS as exc:
                failed = exc
                self._health.went_down(exc)
            except Exception as exc:  # a bug: the courier must live on, or every admit hangs
                log.exception(
                    "quota courier failed; %d settles dropped (their holds stay)", len(ops)
                )
                for op in calls:
                    op.fail(RedisError(f"quota courier failed: {exc!r}"))
                continue
            if failed is None:
                backoff, failures = 0.05, 0
                continue
            failures += 1
            if self._gone.is_set() and failures > 3:
                return  # shutting down and Redis stays away: aclose reports what is left
            self._called.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._called.wait(), backoff)
            backoff = min(backoff * 2, RETRY_DOWN_S)

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

    async def _send(self, calls: list[Op], ops: list[Op]) -> Exception | None:
        """One pipeline per shard (one in all for a single server), at the same time: a
        shard that is down fails its own tenants' calls, not the others'. A Cluster shard
        that failed in the last second is not sent to (one that hangs would hold up every
        round for a timeout): what it has waits, its calls fail."""
        shards: dict[str, list[Batch]] = {}
        for batch in batches(self._keys, ops, calls):
            shards.setdefault(self.shard(batch.call.keys), []).append(batch)
        now, sent = self._clock(), []
        failed: Exception | None = None
        for shard, group in shards.items():
            if not shard or self._health.asking(now, shard):
                sent.append(self._send_to(shard, group))
            else:
                failed = RedisError(f"Redis shard {shard or 'server'} is down")
                self._put_back(group, failed)
        for exc in await asyncio.gather(*sent):
            failed = failed or exc
        return failed

    def shard(self, keys: Sequence[str]) -> str:
        """The shard serving ``keys[0]`` (its node's name; ``""`` for a single server)."""
        if isinstance(self._redis, RedisCluster) and keys:
            node = self._redis.get_node_from_key(keys[0])
            return node.name if node is not None else ""
        return ""

    async def _send_to(self, shard: str, group: list[Batch]) -> Exception | None:
        """Send one shard's batches; on failure put them back (calls fail) and say why.

        Every queued script is idempotent per ticket, so a batch sent again after a
        NOSCRIPT (Redis restarted) or a dropped connection counts once.
        """
        failed: Exception | None = None
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for batch in group:
                self._scripts.add_to(pipe, batch.call)
            try:
                results = await pipe.execute(raise_on_error=False)
            except STORE_ERRORS as exc:
                self._put_back(group, exc)
                self._health.went_down(exc, shard)
                return exc
            again: list[Batch] = []
            if shard and self._health.down_until:
                self._health.answered(shard)  # it answered (some results may still be errors)
            for batch, result in zip(group, results, strict=True):
                if isinstance(result, NoScriptError) and attempt == 1:
                    again.append(batch)
                elif isinstance(result, _SHARD_DOWN):  # a cluster shard's failure, as a value
                    self._put_back([batch], result)
                    self._health.went_down(result, shard)
                    failed = result
                elif isinstance(result, Exception) and not batch.answered:
                    log.error("quota %s failed in Redis: %s", batch.call.script, result)
                else:
                    batch.deliver(result, self._missed)
            if not again:
                return failed
            try:
                await self._scripts.load(again[0].call.keys)
            except STORE_ERRORS as exc:
                self._put_back(again, exc)
                self._health.went_down(exc, shard)
                return exc
            group = again
        return failed

    def _put_back(self, group: list[Batch], exc: Exception) -> None:
        """Waiting requests fall back now, as their tenants say; the rest is sent again."""
        for batch in reversed(group):
            for op in reversed(batch.ops):
                if op.answer is not None:
                    op.fail(exc)
                else:
                    self._ops.appendleft(op)
        self._idle.clear()


# A shard that did not run its part of a cluster pipeline says so in its result.
_SHARD_DOWN = (RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError)
