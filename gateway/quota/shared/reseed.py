"""Budgets seeded from the ledger, and spend Redis missed added back, exactly once.

Each tenant's budgets are seeded from the ledger on their own (``p seeded:{t}``
is on the tenant's slot, so it goes when the tenant's counters go, even when
one shard of a Redis Cluster loses its data and the others do not): at start
for every tenant the ledger has spend for, and otherwise by the first budgeted
admit that finds the tenant unseeded, which waits for it. Spend admitted
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

from gateway.quota.orphans import CounterKey, LedgerLink, SpendSource
from gateway.quota.shared import scripts
from gateway.quota.shared.connection import STORE_ERRORS, Client
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

    @property
    def tenant(self) -> str:
        return self.counters[0][0]


class Seeding:
    """The seeding each tenant's budgets stand on (``epochs``), and the spend Redis lacks."""

    def __init__(self, redis: Client, keys: Keys, run: Scripts, clock: Callable[[], float]) -> None:
        self._redis, self._keys, self._scripts, self._clock = redis, keys, run, clock
        self.epochs: dict[str, bytes] = {}  # tenant -> "<id>|<ledger read time>"
        self.backlog: list[Spend] = []
        self.source: SpendSource | None = None
        self.ledger: LedgerLink | None = None
        self._mine: dict[bytes, int] = {}  # seedings of ours -> rows committed when read
        self._seeding: dict[
            str, asyncio.Future[dict[str, bytes | None]]
        ] = {}  # tenants being seeded now

    def owe(self, spend: Spend) -> None:
        """Spend Redis does not have (admitted fail-open): added when Redis answers."""
        self.backlog.append(spend)

    def missed(self, spend: Spend) -> None:
        """A settle found no reservation: Redis lost it, unless it was settled already."""
        if spend.epoch != self.epochs.get(spend.tenant):
            # Its reservation went with Redis's data: the cost goes in by the re-seeding
            # rule (unless the ledger read already had it).
            self.backlog.append(spend)

    def saw(self, tenant: str, epoch: bytes) -> None:
        """An admit read the tenant's seeding mark."""
        self.epochs[tenant] = epoch

    def committed(self, ledger: LedgerLink) -> None:
        """The ledger committed rows: note when, for the backlog's spends among them."""
        if self.backlog:
            committed, now = ledger.committed, self._clock()
            for spend in self.backlog:
                if spend.committed_at is None and spend.position <= committed:
                    spend.committed_at = now

    async def start(self) -> None:
        """Seed every tenant the ledger has spend for in this window (if not yet seeded)."""
        await self._seed(None)

    async def ensure(self, tenant: str) -> None:
        """Seed one tenant whose admit found it unseeded; concurrent admits share the work."""
        waiting = self._seeding.get(tenant)
        if waiting is None:
            waiting = asyncio.ensure_future(self._seed({tenant}))
            self._seeding[tenant] = waiting
            waiting.add_done_callback(lambda _: self._seeding.pop(tenant, None))
        await asyncio.shield(waiting)

    async def check(self) -> None:
        """Re-seed tenants whose slot lost its data, then add the backlog by the re-seeding rule."""
        tenants = sorted({*self.epochs, *(s.tenant for s in self.backlog)})
        if not tenants:
            return
        pipe = self._redis.pipeline(transaction=False)
        for tenant in tenants:
            pipe.get(self._keys.tenant("seeded", tenant))
        marks = dict(zip(tenants, await pipe.execute(), strict=True))
        lost = {t for t, mark in marks.items() if mark is None}
        if lost:
            marks.update(await self._seed(lost))
        if self.backlog:
            await self._push(marks)
        self.epochs.update({t: mark for t, mark in marks.items() if mark is not None})

    async def _push(self, marks: dict[str, bytes | None]) -> None:
        """Spend Redis lacks goes in, but for what a re-seeding read from the ledger."""
        backlog, self.backlog = self.backlog, []
        totals: dict[str, dict[str, int]] = {}  # tenant -> budget key -> nanos
        for spend in _not_in_seed(backlog, marks, self._mine):
            keys = totals.setdefault(spend.tenant, {})
            for counter in spend.counters:
                key = self._keys.budget(counter)
                keys[key] = keys.get(key, 0) + spend.nanos
        try:
            for tenant, keys in list(totals.items()):
                await self._scripts.run(scripts.add_spend(keys))
                del totals[tenant]  # added: not kept for the next try
        except STORE_ERRORS:
            self.backlog[:0] = [s for s in backlog if s.tenant in totals]
            raise

    async def _seed(self, tenants: set[str] | None) -> dict[str, bytes | None]:
        """This window's spend from the ledger, for ``tenants`` (None: every one with spend).

        Returns each tenant's seeding mark: this one's, or another replica's that came first.
        """
        assert self.source is not None
        now = self._clock()
        committed = self.ledger.committed if self.ledger is not None else 0
        spend = await asyncio.to_thread(self.source)
        by_tenant: dict[str, dict[CounterKey, int]] = {t: {} for t in tenants or ()}
        for counter, nanos in spend.items():
            if tenants is None or counter[0] in tenants:
                by_tenant.setdefault(counter[0], {})[counter] = nanos
        epoch = f"{uuid.uuid4().hex}|{now}".encode()
        marks: dict[str, bytes | None] = {}
        for tenant, counters in by_tenant.items():
            call = scripts.seed(self._keys, tenant, counters, epoch)
            if scripts.applied(await self._scripts.run(call)):
                marks[tenant] = epoch
            else:
                mark = await self._redis.get(self._keys.tenant("seeded", tenant))
                marks[tenant] = cast(bytes | None, mark)
        seeded = [t for t, mark in marks.items() if mark == epoch]
        if seeded:
            self._mine[epoch] = committed
            log.info("budgets seeded from the ledger: %d tenants", len(seeded))
        self.epochs.update({t: mark for t, mark in marks.items() if mark is not None})
        return marks


def _not_in_seed(
    backlog: list[Spend], marks: dict[str, bytes | None], mine: dict[bytes, int]
) -> list[Spend]:
    seeded = [s for s in backlog if _in_seed(s, marks.get(s.tenant), mine)]
    if seeded:
        log.warning(
            "Redis lost its data during the outage; %d fail-open spends are in the "
            "ledger it was re-seeded from",
            len(seeded),
        )
    return [s for s in backlog if s not in seeded]


def _in_seed(spend: Spend, epoch: bytes | None, mine: dict[bytes, int]) -> bool:
    """Whether a seeding's ledger read had this spend (unsure: no, so an error over-counts)."""
    if epoch is None or spend.epoch == epoch:
        return False
    if epoch in mine:  # our own read: our rows committed before it are in it
        return spend.position <= mine[epoch]
    # Another replica's: committed well before it read (replicas' clocks differ a little).
    if spend.committed_at is None:
        return False
    return spend.committed_at < float(epoch.rsplit(b"|", 1)[1]) - CLOCK_SKEW_S
