"""Admission shared by every replica: rate limits, concurrency and budgets held in Redis.

`RedisQuota` implements `gateway.quota.store.Quota` by composing its parts:
the `courier` sends what requests queue, one pipeline per round trip;
`scripts` builds each Lua script's call and decodes its reply; `liveness`
keeps this replica's alive key and reclaims what dead replicas held;
`reseed` seeds budgets from the ledger and adds spend Redis missed; `levels`
keeps the budget levels last read; `outage` admits as each tenant's
``when_store_down`` says while Redis is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from redis.asyncio.cluster import RedisCluster

from gateway.config.runtime import Policy
from gateway.quota.budgets import holds_nothing, service_limits
from gateway.quota.memory import MemoryQuota
from gateway.quota.orphans import CounterKey, LedgerLink, SpendSource
from gateway.quota.shared import scripts
from gateway.quota.shared.connection import STORE_ERRORS, connect, is_cluster, ready
from gateway.quota.shared.courier import Courier
from gateway.quota.shared.health import Health
from gateway.quota.shared.keys import Keys, new_replica_id
from gateway.quota.shared.levels import BudgetLevels
from gateway.quota.shared.liveness import Liveness
from gateway.quota.shared.outage import FailOpen
from gateway.quota.shared.reseed import Seeding, Spend
from gateway.quota.shared.rounds import Op
from gateway.quota.shared.scripts import Scripts
from gateway.quota.shared.verdicts import AdmitReply, Counted, Verdict
from gateway.quota.ticket import BudgetStatus, Ticket, unlimited_ticket
from gateway.quota.windows import Window, WindowKind

log = logging.getLogger(__name__)

ALIVE_TTL_S = 10  # a replica silent this long is dead: its reservations are reclaimed
HEARTBEAT_S = 2.0


class RedisQuota:
    def __init__(
        self,
        url: str,
        tz: ZoneInfo,
        *,
        prefix: str = "gw:",
        alive_ttl_s: float = ALIVE_TTL_S,
        heartbeat_s: float = HEARTBEAT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url, self._clock = url, clock
        self.replica = new_replica_id()
        self._keys = keys = Keys(prefix, self.replica)
        self._redis = redis = connect(url)
        self._local = MemoryQuota(tz)  # the fail-open fallback, and the window cache
        self._scripts = run = Scripts(redis)
        self._health = Health(clock, sharded=is_cluster(url))
        self._gone = asyncio.Event()
        self._reseed = asyncio.Event()  # an admit found Redis unseeded
        self._seeding = Seeding(redis, keys, run, clock)
        self._courier = Courier(
            redis, keys, run, self._health, self._seeding.missed, self._gone, clock
        )
        self._ids = itertools.count(1)  # reservation ids: unique within this replica's keys
        self._registered: set[str] = set()  # tenants whose keys a reclaim of ours must visit
        self._liveness = Liveness(
            redis, keys, run, self._health, self._registered,
            alive_ttl_s=alive_ttl_s, heartbeat_s=heartbeat_s,
        )  # fmt: skip
        self._levels = BudgetLevels(redis, keys, self._local.windows)
        self._outage = FailOpen(self._local, self._health, self._levels, self._seeding)
        self._tpm_caps: dict[str, str] = {}  # tenant -> the TPM its last admit used
        self._ledger: LedgerLink | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def up(self) -> bool:
        return self._health.up

    @property
    def fail_open_admits(self) -> int:
        return self._outage.admits

    @property
    def reclaimed(self) -> int:
        return self._liveness.reclaimed

    # ------------------------------------------------------------------ lifecycle

    async def start(self, spend: SpendSource, ledger: LedgerLink) -> None:
        """Connect (refusing to start without Redis), seed this window, begin heartbeats."""
        self._seeding.source, self._seeding.ledger, self._ledger = spend, ledger, ledger
        ledger.on_commit(self._ledger_committed)
        try:
            await ready(self._redis)
            await self._scripts.load()
            await self._liveness.beat()
            await self._seeding.start()
        except STORE_ERRORS as exc:
            raise RuntimeError(f"Redis at {_safe(self._url)} is unreachable: {exc}") from exc
        self._tasks = [
            asyncio.create_task(self._courier.run(ledger), name="quota-courier"),
            asyncio.create_task(self._liveness.heartbeat(self._gone), name="quota-heartbeat"),
            asyncio.create_task(self._maintain(ledger), name="quota-maintenance"),
        ]
        log.info("shared quota on Redis %s as replica %s", _safe(self._url), self.replica)

    async def aclose(self) -> None:
        """Send every queued settle, then leave (the alive key goes: nothing is left held)."""
        self._gone.set()
        self._courier.wake()
        self._reseed.set()  # wakes the maintenance loop to see it is over
        if self._tasks:  # the ledger was flushed first: its settles can all go now
            _, late = await asyncio.wait(self._tasks, timeout=10)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._liveness.leave()
        left = self._courier.unsent()
        if left or self._seeding.backlog:
            log.error("Redis unreachable at shutdown: %d settles not sent", left)
        await self._redis.aclose()

    def _ledger_committed(self) -> None:
        self._courier.wake()  # settles waiting for their rows can go
        if self._ledger is not None:
            self._seeding.committed(self._ledger)

    async def _maintain(self, ledger: LedgerLink) -> None:
        """Re-seed after data loss, hand over fail-open spend, refresh levels, reclaim the dead."""
        rounds = 0
        while not self._gone.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reseed.wait(), self._liveness.heartbeat_s)
            self._reseed.clear()
            if self._gone.is_set():
                return
            rounds += 1
            try:
                await self._probe()
                await self._seeding.check()
                self._levels.prune(self._clock())
                await self._levels.refresh()
                if rounds % 2 == 0 and self._liveness.may_reclaim(self._clock()):
                    await self._liveness.reclaim(ledger)
            except STORE_ERRORS as exc:
                self._health.went_down(exc)
            except Exception:
                log.exception("quota maintenance failed")

    async def _probe(self) -> None:
        """Ask each Cluster shard that failed whether it is back (no call may go there)."""
        if not isinstance(self._redis, RedisCluster):
            return
        for shard in self._health.down_shards():
            node = self._redis.get_node(node_name=shard)
            with contextlib.suppress(*STORE_ERRORS):
                if node is not None and await self._redis.execute_command(
                    "PING", target_nodes=node
                ):
                    self._health.answered(shard)

    # ------------------------------------------------------------------ admission

    async def admit(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        *,
        bound: int,
        tokens: int,
        now: float,
        force: bool = False,
        ref: tuple[str, int] | None = None,
        service: str | None = None,
        tags: str | None = None,
    ) -> Ticket:
        if holds_nothing(policy):
            return unlimited_ticket(tenant, model, bound, tokens)
        shard = self._courier.shard(scripts.tenant_keys(self._keys, tenant))
        outage = functools.partial(
            self._outage.admit, tenant, model, policy, bound, tokens, now, force,
            service=service, tags=tags,
        )  # fmt: skip
        if not self._health.asking(now, shard):
            return outage(None)
        counted = self._levels.counted(tenant, model, policy, now, service, tags)
        counters = tuple(self._levels.counter(key) for _, key in counted)
        own = service if service_limits(policy, service) is not None else None
        ticket = Ticket(
            tenant, model, bound, tokens, counters, {}, False, False, id=str(next(self._ids)),
            ref=ref, holds_share=scripts.holds_share(policy, own), service=own,
            attribution=(service, tags),
        )  # fmt: skip
        try:
            reply = await self._ask(ticket, policy, counted, force, now)
            if reply.verdict is Verdict.UNSEEDED:  # the tenant's slot lost its data, or is new
                await self._seeding.ensure(tenant)
                reply = await self._ask(ticket, policy, counted, force, now)
        except STORE_ERRORS as exc:
            self._health.went_down(exc, shard)
            return outage(exc)
        self._levels.admitted(tenant, counted)
        self._tpm_caps[tenant] = scripts.opt(policy.tpm)
        if own is not None:
            limits = service_limits(policy, own)
            self._tpm_caps[f"{tenant}\x00{own}"] = scripts.opt(limits.tpm if limits else None)
        if reply.verdict is Verdict.ADMITTED:
            ticket.headers = reply.headers(policy)
            ticket.over_budget = reply.over_budget
            if reply.epoch is not None:
                ticket.epoch = reply.epoch
                self._seeding.saw(tenant, reply.epoch)
            if ticket.over_budget:
                log.warning("tenant %s admitted over a budget (soft mode)", tenant)
            return ticket
        if reply.verdict is Verdict.UNSEEDED:
            self._reseed.set()
            return outage(None)
        raise reply.refusal(ticket, policy, counted, self.windows(now), now)

    async def _ask(
        self, ticket: Ticket, policy: Policy, counted: Counted, force: bool, now: float
    ) -> AdmitReply:
        """One admit in Redis; if its outcome is unknown (an error, the caller left), undone."""
        await self._register(ticket.tenant)
        op = self._courier.call(scripts.admit(self._keys, ticket, policy, counted, force, now))
        try:
            return AdmitReply.decode(await self._courier.answer(op))
        except (*STORE_ERRORS, asyncio.CancelledError):  # Redis may have held it all the same
            self._undo(op, ticket)
            raise

    async def _register(self, tenant: str) -> None:
        """Before this replica holds anything of a tenant, a reclaim must know to look."""
        if tenant not in self._registered:
            await self._courier.answer(self._courier.call(scripts.register(self._keys, tenant)))
            self._registered.add(tenant)

    def _undo(self, op: Op, ticket: Ticket) -> None:
        """Give back whatever an admit of uncertain outcome may hold (idempotent per id)."""
        ticket.settled = True
        if not op.sent:  # still queued: it never will be
            op.skip = True
            return
        self._release(ticket, ticket.tokens)  # queued: sent after the admit's own pipeline
        if ticket.counters:
            self._courier.send(scripts.settle(self._keys, ticket, 0))

    # ------------------------------------------------------------------ settling

    def settle(self, ticket: Ticket, cost: int, tokens: int, now: float) -> None:
        if ticket.settled:
            return
        if not ticket.id:  # unlimited, or admitted locally while Redis was down
            self._outage.settle(ticket, cost, tokens, now, self._ledger)
            return
        ticket.settled = True
        if cost > ticket.bound:
            log.error(
                "cost %s exceeded its reservation %s (tenant %s, model %s): the bound is wrong",
                cost, ticket.bound, ticket.tenant, ticket.model,
            )  # fmt: skip
        self._release(ticket, tokens)
        if ticket.counters:
            assert self._ledger is not None
            # If Redis loses the reservation (it restarted empty), this spend is what it was.
            spend = Spend(self._ledger.position, ticket.counters, cost, epoch=ticket.epoch)
            self._courier.after_row(scripts.settle(self._keys, ticket, cost), spend)

    def adjust(self, counters: tuple[CounterKey, ...], nanos: int) -> None:
        """Added to Redis by the re-seeding rule, as fail-open spend is: the ledger row it
        corrects is committed, so a re-seeding that read it already has it."""
        if not counters or not nanos:
            return
        self._local.adjust(counters, nanos)
        position = self._ledger.position if self._ledger is not None else 0
        at = self._clock()
        epoch = self._seeding.epochs.get(counters[0][0])
        self._seeding.owe(Spend(position, counters, nanos, committed_at=at, epoch=epoch))
        self._reseed.set()  # the maintenance loop adds it now

    def _release(self, ticket: Ticket, tokens: int) -> None:
        if ticket.holds_share:
            tpm = self._tpm_caps.get(ticket.tenant, "")
            service_tpm = ""
            if ticket.service is not None:
                service_tpm = self._tpm_caps.get(f"{ticket.tenant}\x00{ticket.service}", "")
            release = scripts.release(ticket, tokens, tpm, service_tpm)
            self._courier.send(release, linger=True)

    async def drain(self) -> None:
        """Wait until every queued settle has reached Redis (after its ledger row)."""
        await self._courier.drain()

    async def open_session(self, tenant: str, limit: int | None) -> bool:
        shard = self._courier.shard([self._keys.tenant("sess", tenant)])
        if self._health.asking(self._clock(), shard):
            call = scripts.open_session(self._keys, tenant, limit)
            try:
                await self._register(tenant)
                return scripts.applied(await self._courier.answer(self._courier.call(call)))
            except STORE_ERRORS as exc:
                self._health.went_down(exc, shard)
        return self._outage.open_session(tenant, limit)

    def close_session(self, tenant: str) -> None:
        if not self._outage.close_session(tenant):  # counted in Redis
            self._courier.send(scripts.close_session(self._keys, tenant))

    # ------------------------------------------------------------------ status

    def status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        return self._levels.status(tenant, policy, now)

    async def budget_status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        with contextlib.suppress(*STORE_ERRORS):
            await self._levels.read(tenant, policy, now)
        return self.status(tenant, policy, now)

    def tenants(self) -> list[str]:
        return self._levels.tenants()

    def windows(self, now: float) -> dict[WindowKind, Window]:
        return self._local.windows(now)


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
