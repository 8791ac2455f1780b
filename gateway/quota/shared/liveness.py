"""Whether Redis answers, whether this replica is alive, and what dead replicas held.

Reservations outlive nothing: each replica keeps an ``alive`` key with a TTL.
When one dies (SIGKILL, OOM, a lost node), its key expires and any other
replica reclaims what it held: its in-flight and session counts are dropped
and each of its reservations is reconciled against the ledger. A call the
ledger has is charged its recorded cost; a call it lacks (the replica died
before its batch was written) is charged its full bound and gets an
``estimated`` ledger row with outcome ``orphaned``, so Redis and the ledger
still agree and the budget never under-counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.quota.orphans import LedgerLink, Orphan
from gateway.quota.shared import scripts
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.scripts import Scripts

log = logging.getLogger(__name__)

RETRY_DOWN_S = 1.0  # after a failure, requests do not wait on Redis for this long


class Health:
    """Redis's reachability as this replica last saw it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.up = True
        self.down_until = 0.0  # requests do not wait on Redis before this time
        self.up_since = 0.0  # connected without a break since (reclaiming waits for a TTL)
        self._fell_back = False  # a request fell back since the last heartbeat

    def asking(self, now: float) -> bool:
        """Whether a request at ``now`` waits on Redis (not in the second after a failure)."""
        return now >= self.down_until

    def went_down(self, exc: Exception) -> None:
        if self.up:
            log.error("Redis unreachable (%s): applying each tenant's when_store_down", exc)
        self.up = False
        self.down_until = self._clock() + RETRY_DOWN_S

    def answered(self) -> None:
        if not self.up:
            log.warning("Redis is reachable again: shared limits and budgets are back")
            self.up_since = self._clock()
        elif not self.up_since:
            self.up_since = self._clock()
        self.up, self.down_until, self._fell_back = True, 0.0, False

    def first_fallback(self) -> bool:
        """True for the first request of an outage that falls back to this replica's limits."""
        first, self._fell_back = not self._fell_back, True
        return first


class Liveness:
    """This replica's heartbeat, and the reclaiming of what replicas that stopped held."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        run: Scripts,
        health: Health,
        *,
        alive_ttl_s: float,
        heartbeat_s: float,
    ) -> None:
        self._redis, self._keys, self._scripts, self._health = redis, keys, run, health
        self.alive_ttl_s, self.heartbeat_s = alive_ttl_s, heartbeat_s
        self.reclaimed = 0

    async def heartbeat(self, gone: asyncio.Event) -> None:
        """Only the alive key: nothing slow may delay it (peers would reclaim a live replica)."""
        while not gone.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), self.heartbeat_s)
                return
            try:
                await self.beat()
            except RedisError as exc:
                self._health.went_down(exc)
            except Exception:  # a bug here must not stop the heartbeat (the replica would die)
                log.exception("quota heartbeat failed")

    async def beat(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._keys.mine("alive"), b"1", px=int(self.alive_ttl_s * 1000))
        pipe.sadd(self._keys.of("replicas"), self._keys.replica)
        await pipe.execute()
        self._health.answered()

    async def leave(self) -> None:
        """The alive key goes: nothing is left held (every settle was sent first)."""
        with contextlib.suppress(RedisError):
            await self._redis.delete(self._keys.mine("alive"))

    def may_reclaim(self, now: float) -> bool:
        """Only once live peers have had a full TTL to beat again after an outage."""
        return self._health.up and now - self._health.up_since > self.alive_ttl_s

    async def reclaim(self, ledger: LedgerLink) -> None:
        """Take over what dead replicas held: drop their counts, reconcile their reservations."""
        keys = self._keys
        for raw in await self._redis.sunion([keys.of("replicas"), keys.of("claiming")]):
            replica = raw.decode() if isinstance(raw, bytes) else raw
            if replica == keys.replica:
                continue
            orphans = scripts.orphans(await self._scripts.run(scripts.claim(keys, replica)))
            if orphans is None:
                continue  # alive
            await self._reconcile(ledger, replica, orphans)
            await self._scripts.run(scripts.claimed(keys, replica))

    async def _reconcile(
        self, ledger: LedgerLink, replica: str, orphans: list[tuple[Orphan, list[str]]]
    ) -> None:
        refs = [o.ref for o, _ in orphans if o.ref is not None]
        recorded = await asyncio.to_thread(ledger.recorded_cost, refs) if refs else {}
        for orphan, held in orphans:
            known = recorded.get(orphan.ref) if orphan.ref is not None else None
            charge = orphan.bound if known is None else known
            call = scripts.settle_orphan(self._keys, replica, orphan, held, charge)
            if scripts.applied(await self._scripts.run(call)):
                self.reclaimed += 1
                if known is None:
                    ledger.record_orphan(orphan)
        if orphans:
            log.warning(
                "replica %s stopped answering: reclaimed %d reservations", replica, len(orphans)
            )
