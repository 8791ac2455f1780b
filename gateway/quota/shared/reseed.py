"""Budgets seeded from the ledger, and spend Redis missed added back, exactly once.

The first replica of a window seeds Redis's budgets from the ledger. If
Redis loses its data (``p seeded`` is gone), a replica seeds it again; until
then budgeted calls are treated as if Redis were down. Spend admitted
fail-open while Redis was unreachable, and the cost of a call whose
reservation went with Redis's data, are added when it is back, except what
the ledger read of a re-seeding already had: a spend whose ledger row was
committed before that read is in the seed and is not added again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.quota.orphans import CounterKey, LedgerLink, SpendSource
from gateway.quota.shared import scripts
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.scripts import Scripts

log = logging.getLogger(__name__)

CLOCK_SKEW_S = 0.5  # most the replicas' clocks may differ (NTP keeps them within ms)


@dataclass(slots=True, eq=False)
class Spend:
    """A cost Redis may lack; its ledger row is number ``position``."""

    position: int
    counters: tuple[CounterKey, ...]
    nanos: int
    committed_at: float | None = None  # when this replica saw its ledger row committed
    epoch: bytes | None = None  # the seeding Redis's counters stood on when it was spent


class Seeding:
    """The seeding Redis's budgets stand on (``epoch``), and the spend it still lacks."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, run: Scripts, clock: Callable[[], float]
    ) -> None:
        self._redis, self._keys, self._scripts, self._clock = redis, keys, run, clock
        self.epoch: bytes | None = None  # "<id>|<ledger read time>" of the last seeding
        self.backlog: list[Spend] = []
        self.source: SpendSource | None = None

    def owe(self, spend: Spend) -> None:
        """Spend Redis does not have (admitted fail-open): added when Redis answers."""
        self.backlog.append(spend)

    def missed(self, spend: Spend) -> None:
        """A settle found no reservation: Redis lost it, unless it was settled already."""
        if spend.epoch != self.epoch:
            # Its reservation went with Redis's data: the cost goes in by the re-seeding
            # rule (unless the ledger read already had it).
            self.backlog.append(spend)

    def committed(self, ledger: LedgerLink) -> None:
        """The ledger committed rows: note when, for the backlog's spends among them."""
        if self.backlog:
            committed, now = ledger.committed, self._clock()
            for spend in self.backlog:
                if spend.committed_at is None and spend.position <= committed:
                    spend.committed_at = now

    async def check(self) -> None:
        """Seed if Redis lost its data, then add the backlog by the re-seeding rule."""
        key = self._keys.of("seeded")
        epoch = cast(bytes | None, await self._redis.get(key))
        if epoch is None:
            epoch = await self._seed() or cast(bytes | None, await self._redis.get(key))
        if self.backlog:
            await self._push(epoch)
        self.epoch = epoch

    async def _push(self, epoch: bytes | None) -> None:
        """Spend Redis lacks goes in, but for what a re-seeding read from the ledger."""
        backlog, self.backlog = self.backlog, []
        if epoch is not None:
            backlog = _not_in_seed(backlog, epoch)
        totals: dict[str, int] = {}
        for spend in backlog:
            for counter in spend.counters:
                key = self._keys.budget(counter)
                totals[key] = totals.get(key, 0) + spend.nanos
        if not totals:
            return
        try:
            await self._scripts.run(scripts.add_spend(totals))
        except RedisError:
            self.backlog[:0] = backlog
            raise

    async def _seed(self) -> bytes | None:
        """This window's spend from the ledger (first replica of the window, or Redis lost it).

        Returns the new epoch, or None when another replica seeded first.
        """
        assert self.source is not None
        now = self._clock()
        spend = await asyncio.to_thread(self.source)
        epoch = f"{uuid.uuid4().hex}|{now}".encode()
        if not scripts.applied(await self._scripts.run(scripts.seed(self._keys, spend, epoch))):
            return None
        log.info("budgets seeded from the ledger: %d counters", len(spend))
        return epoch


def _not_in_seed(backlog: list[Spend], epoch: bytes) -> list[Spend]:
    # Accrued under an earlier seeding and committed well before this one read the ledger
    # (replicas' clocks differ a little): in the seed. Later or unsure: added, so an error
    # can only over-count.
    read_at = float(epoch.rsplit(b"|", 1)[1]) - CLOCK_SKEW_S
    seeded = [
        s
        for s in backlog
        if s.epoch != epoch and s.committed_at is not None and s.committed_at < read_at
    ]
    if seeded:
        log.warning(
            "Redis lost its data during the outage; %d fail-open spends are in the "
            "ledger it was re-seeded from",
            len(seeded),
        )
    return [s for s in backlog if s not in seeded]
