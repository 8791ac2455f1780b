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
from typing import cast

from gateway.quota.orphans import LedgerLink, Orphan
from gateway.quota.shared import scripts
from gateway.quota.shared.connection import STORE_ERRORS, Client
from gateway.quota.shared.health import Health
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.scripts import Scripts

log = logging.getLogger(__name__)


class Liveness:
    """This replica's heartbeat, and the reclaiming of what replicas that stopped held."""

    def __init__(
        self,
        redis: Client,
        keys: Keys,
        run: Scripts,
        health: Health,
        tenants: set[str],
        *,
        alive_ttl_s: float,
        heartbeat_s: float,
    ) -> None:
        self._redis, self._keys, self._scripts, self._health = redis, keys, run, health
        self._tenants = tenants  # the tenants this replica registered (kept by `RedisQuota`)
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
            except STORE_ERRORS as exc:
                self._health.went_down(exc)
            except Exception:  # a bug here must not stop the heartbeat (the replica would die)
                log.exception("quota heartbeat failed")

    async def beat(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._keys.mine("alive"), b"1", px=int(self.alive_ttl_s * 1000))
        pipe.sadd(self._keys.of("replicas"), self._keys.replica)
        if self._tenants:  # again: that key may be on a shard that lost its data
            pipe.sadd(self._keys.mine("tenants"), *self._tenants)
        await pipe.execute()
        self._health.answered()

    async def leave(self) -> None:
        """The alive key goes: nothing is left held (every settle was sent first)."""
        with contextlib.suppress(*STORE_ERRORS):
            await self._redis.delete(self._keys.mine("alive"))

    def may_reclaim(self, now: float) -> bool:
        """Only once live peers have had a full TTL to beat again after an outage."""
        return self._health.up and now - self._health.up_since > self.alive_ttl_s

    async def reclaim(self, ledger: LedgerLink) -> None:
        """Take over what dead replicas held: drop their counts, reconcile their reservations.

        Tenant by tenant (a tenant's keys are on one slot); the replica stays listed until
        every tenant is done, so a reclaim cut short is finished by the next one.
        """
        keys = self._keys
        for replica in _names(await self._redis.smembers(keys.of("replicas"))):
            if replica == keys.replica or await self._redis.exists(keys.of("alive", replica)):
                continue
            for tenant in _names(await self._redis.smembers(keys.of("tenants", replica))):
                claim = scripts.claim(keys, tenant, replica)
                orphans = scripts.orphans(await self._scripts.run(claim))
                if orphans:
                    await self._reconcile(ledger, tenant, replica, orphans)
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(keys.of("tenants", replica))
            pipe.srem(keys.of("replicas"), replica)
            await pipe.execute()

    async def _reconcile(
        self, ledger: LedgerLink, tenant: str, replica: str, orphans: list[tuple[Orphan, list[str]]]
    ) -> None:
        refs = [o.ref for o, _ in orphans if o.ref is not None]
        recorded = await asyncio.to_thread(ledger.recorded_cost, refs) if refs else {}
        groups: dict[tuple[str, ...], list[tuple[Orphan, int | None]]] = {}
        for orphan, held in orphans:
            known = recorded.get(orphan.ref) if orphan.ref is not None else None
            groups.setdefault(tuple(held), []).append((orphan, known))
        for keys, group in groups.items():
            charges = [(o, o.bound if known is None else known) for o, known in group]
            call = scripts.settle_orphans(self._keys, tenant, replica, list(keys), charges)
            for (orphan, known), applied in zip(
                group, scripts.settled(await self._scripts.run(call)), strict=True
            ):
                if applied:
                    self.reclaimed += 1
                    if known is None:
                        ledger.record_orphan(orphan)
        log.warning(
            "replica %s stopped answering: reclaimed %d reservations of tenant %s",
            replica, len(orphans), tenant,
        )  # fmt: skip


def _names(raw: object) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else str(m) for m in cast(set[object], raw)]
