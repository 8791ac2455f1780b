"""Admission shared by every replica: rate limits, concurrency and budgets held in Redis.

One background task, the courier, talks to Redis for the request path: the
admits waiting (each a `scripts.ADMIT`) and the queued releases and settles
all go in one pipeline per round trip, so under load many calls share one
round trip and one connection, and the metering ``finally`` never waits on
Redis. A call's concurrency share goes back at
once; its cost moves into the budget only after its ledger row is committed,
so Redis never counts spend the ledger does not have, even across a SIGKILL.

Reservations outlive nothing: each replica keeps an ``alive`` key with a TTL.
When one dies (SIGKILL, OOM, a lost node), its key expires and any other
replica reclaims what it held: its in-flight and session counts are dropped
and each of its reservations is reconciled against the ledger. A call the
ledger has is charged its recorded cost; a call it lacks (the replica died
before its batch was written) is charged its full bound and gets an
``estimated`` ledger row with outcome ``orphaned``, so Redis and the ledger
still agree and the budget never under-counts.

While Redis is unreachable each tenant gets what its ``when_store_down``
says: ``closed`` refuses with 503, ``open`` admits against this replica's
own limits, with budgets starting from the last levels read from Redis.
Spend admitted that way is added to Redis when it is back. If Redis lost its
data meanwhile, it is re-seeded from the ledger (``p seeded`` is gone; until
it is back, budgeted calls are treated as if Redis were down); spend whose
ledger row was committed before that read is already in it and is not added
again. The same rule applies to settles of calls admitted before the loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

import hiredis
import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from gateway.config.runtime import BudgetLimit, Policy
from gateway.errors import ServiceUnavailable
from gateway.quota import scripts
from gateway.quota.bucket import rate_headers
from gateway.quota.errors import (
    budget_refusal,
    concurrency_refusal,
    rpm_refusal,
    tpm_refusal,
)
from gateway.quota.memory import BudgetStatus, MemoryQuota, Ticket, holds_nothing
from gateway.quota.orphans import CounterKey, LedgerLink, Orphan, SpendSource
from gateway.quota.windows import Window, WindowKind

log = logging.getLogger(__name__)

ALIVE_TTL_S = 10  # a replica silent this long is dead: its reservations are reclaimed
HEARTBEAT_S = 2.0
REDIS_TIMEOUT_S = 1.0  # longest a request waits on Redis before its tenant's when_store_down
RETRY_DOWN_S = 1.0  # after a failure, requests do not wait on Redis for this long
CLOCK_SKEW_S = 0.5  # most the replicas' clocks may differ (NTP keeps them within ms)
BUDGET_TTL_S = 40 * 86400  # a month window's counters outlive the month, then go


class RedisQuota:
    def __init__(
        self,
        url: str,
        tz: ZoneInfo,
        *,
        prefix: str = "gw:",
        alive_ttl_s: float = ALIVE_TTL_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self._url = url
        self._alive_ttl_s, self._heartbeat_s = alive_ttl_s, heartbeat_s
        self._p = prefix
        # The courier holds one connection; the heartbeats and status reads take a few
        # more. Blocking: a burst of status reads waits instead of failing like an outage.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=16, timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S,
        )  # fmt: skip
        pool.connection_class = _hiredis_packing(pool.connection_class)
        self._redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._local = MemoryQuota(tz)  # the fail-open fallback, and the window cache
        self._shas: dict[str, str] = {}
        self._calls: deque[_Op] = deque()  # admits and session opens, awaited
        self._ops: deque[_Op] = deque()  # releases and settles: sent, retried, not awaited
        self._after_ledger: deque[_Op] = deque()  # budget settles, each behind its ledger row
        self._spend_backlog: list[_Spend] = []  # fail-open spend, for Redis when it is back
        self._epoch: bytes | None = None  # "<id>|<ledger read time>" of the last seeding
        self._up_since = 0.0  # connected without a break since (reclaiming waits for a TTL)
        self._reseed = asyncio.Event()  # an admit found Redis unseeded
        self._wake = asyncio.Event()
        self._called = asyncio.Event()  # a call is waiting: cuts a retry backoff short
        self._idle = asyncio.Event()  # set while no settle is queued
        self._idle.set()
        self._snapshot: dict[str, tuple[int, int]] = {}  # budget key -> (spent, reserved)
        self._parts: dict[str, CounterKey] = {}  # budget key -> its counter
        self._seen: set[str] = set()
        self._tpm_caps: dict[str, str] = {}  # tenant -> the TPM its last admit used
        self._local_sessions: dict[str, int] = {}  # sessions counted here while Redis was away
        self._down_until = 0.0
        self._outage_seeded = False
        self._spend_source: SpendSource | None = None
        self._ledger: LedgerLink | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._gone = asyncio.Event()
        self.up = True
        self.fail_open_admits = 0
        self.reclaimed = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self, spend: SpendSource, ledger: LedgerLink) -> None:
        """Connect (refusing to start without Redis), seed this window, begin heartbeats."""
        self._spend_source, self._ledger = spend, ledger
        ledger.on_commit(self._ledger_committed)
        try:
            await self._load_scripts()
            await self._beat()
            await self._check_seed()
        except RedisError as exc:
            raise RuntimeError(f"Redis at {_safe(self._url)} is unreachable: {exc}") from exc
        self._tasks = [
            asyncio.create_task(self._courier(), name="quota-courier"),
            asyncio.create_task(self._heartbeat(), name="quota-heartbeat"),
            asyncio.create_task(self._maintain(), name="quota-maintenance"),
        ]
        log.info("shared quota on Redis %s as replica %s", _safe(self._url), self.replica)

    async def aclose(self) -> None:
        """Send every queued settle, then leave (the alive key goes: nothing is left held)."""
        self._gone.set()
        self._wake.set()
        self._reseed.set()  # wakes the maintenance loop to see it is over
        if self._tasks:  # the ledger was flushed first: its settles can all go now
            _, late = await asyncio.wait(self._tasks, timeout=10)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError):
            await self._redis.delete(self._key("alive", self.replica))
        left = len(self._ops) + len(self._after_ledger)
        if left or self._spend_backlog:
            log.error("Redis unreachable at shutdown: %d settles not sent", left)
        await self._redis.aclose()

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
    ) -> Ticket:
        if holds_nothing(policy):
            return Ticket(tenant, model, bound, tokens, (), {}, False, False, unlimited=True)
        if now < self._down_until:
            return self._fallback(tenant, model, policy, bound, tokens, now, force, None)
        counters = self._counters(tenant, model, policy, now)
        ticket_id = uuid.uuid4().hex
        record = orjson.dumps(
            {
                "t": tenant,
                "m": model,
                "b": bound,
                "k": [k for _, k in counters],
                "q": ref,
                "at": now,
            }
        ).decode()
        limits = [limit.nanos for limit, _ in counters]
        keys = [
            self._key("rate", tenant),
            self._key("conc", tenant),
            self._key("res", self.replica),
            self._key("tenants", self.replica),
            self._key("inflight", self.replica),
            self._key("seeded"),
            *(key for _, key in counters),
        ]
        args: list[str | int] = [
            self.replica, ticket_id, _opt(policy.rpm), _opt(policy.tpm), _opt(policy.concurrent),
            tokens, bound, int(policy.budget_mode == "strict"), int(force), record, BUDGET_TTL_S,
            tenant, *limits,
        ]  # fmt: skip
        budget_keys = tuple(self._parts[key] for _, key in counters)
        ticket = Ticket(
            tenant, model, bound, tokens, budget_keys, {}, False, False, id=ticket_id, ref=ref,
            epoch=self._epoch,
        )  # fmt: skip
        op = self._enqueue("admit", keys, args)
        try:
            reply = await self._answer(op)
        except RedisError as exc:
            self._went_down(exc)
            self._undo(op, ticket)  # it may have been applied before the connection broke
            return self._fallback(tenant, model, policy, bound, tokens, now, force, exc)
        except asyncio.CancelledError:  # the caller left; Redis may have held it all the same
            self._undo(op, ticket)
            raise
        self._seen.add(tenant)
        self._tpm_caps[tenant] = _opt(policy.tpm)
        for _, key in counters:  # the heartbeat keeps these levels for a fail-open start
            self._snapshot.setdefault(key, (0, 0))
        code = int(reply[0])
        if code == 0:
            ticket.headers = rate_headers(
                ("requests", policy.rpm, _float(reply[2])), ("tokens", policy.tpm, _float(reply[3]))
            )
            ticket.over_budget = bool(int(reply[1]))
            if ticket.over_budget:
                log.warning("tenant %s admitted over a budget (soft mode)", tenant)
            return ticket
        if code == 5:  # Redis came back empty and its budgets are not re-seeded yet
            self._reseed.set()
            return self._fallback(tenant, model, policy, bound, tokens, now, force, None)
        raise self._refusal(code, reply, tenant, policy, tokens, bound, counters, now)

    def _undo(self, op: _Op, ticket: Ticket) -> None:
        """Give back whatever an admit of uncertain outcome may hold (idempotent per id)."""
        ticket.settled = True
        if not op.sent:  # still queued: it never will be
            op.skip = True
            return
        self._release(ticket, ticket.tokens)  # queued: sent after the admit's own pipeline
        if ticket.counters:
            self._queue(_Op("settle", self._settle_keys(ticket), [ticket.id, -ticket.bound, 0]))

    def _counters(
        self, tenant: str, model: str, policy: Policy, now: float
    ) -> list[tuple[BudgetLimit, str]]:
        """The budgets this call counts against, each with its Redis key."""
        windows = self.windows(now)
        out = []
        for b in policy.budgets:
            if b.model is None or b.model == model:
                counter = (tenant, b.model, windows[b.window].key)
                key = self._budget_key(*counter)
                self._parts[key] = counter
                out.append((b, key))
        return out

    def _prune_snapshot(self) -> None:
        """Levels of past windows are neither shown nor used: stop reading them."""
        current = {w.key for w in self.windows(time.time()).values()}
        for key in [k for k in self._snapshot if self._parts[k][2] not in current]:
            del self._snapshot[key]

    def _refusal(
        self,
        code: int,
        reply: list[Any],
        tenant: str,
        policy: Policy,
        tokens: int,
        bound: int,
        counters: list[tuple[BudgetLimit, str]],
        now: float,
    ) -> Exception:
        level = _float(reply[1]) if code in (2, 3) else 0.0
        if code == 1:
            in_flight = int(reply[1])
            return concurrency_refusal(
                tenant, in_flight, cast(int, policy.concurrent), ", across all replicas"
            )
        if code == 2:
            rpm = cast(int, policy.rpm)
            wait = (1 - level) * 60 / rpm
            return rpm_refusal(tenant, rpm, wait, rate_headers(("requests", rpm, level)))
        if code == 3:
            tpm = cast(int, policy.tpm)
            wait = (tokens - level) * 60 / tpm if tokens <= tpm else math.inf
            return tpm_refusal(tenant, tpm, tokens, wait, rate_headers(("tokens", tpm, level)))
        limit, _ = counters[int(reply[1]) - 1]
        window = self.windows(now)[limit.window]
        return budget_refusal(tenant, limit, window, int(float(reply[2])), bound, now)

    def _fallback(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        bound: int,
        tokens: int,
        now: float,
        force: bool,
        exc: Exception | None,
    ) -> Ticket:
        """Redis is unreachable: refuse (closed) or admit against this replica's limits (open)."""
        if policy.when_store_down == "closed" and not force:
            raise ServiceUnavailable(
                "The gateway's shared rate-limit and budget store is unreachable, and this "
                f"tenant's policy is to refuse calls then (when_store_down: closed). Try again "
                f"in a few seconds.{f' ({type(exc).__name__})' if exc else ''}",
                code="quota_store_unavailable",
                headers={"retry-after": "5"},
            )
        if not self._outage_seeded:  # budgets start from the last levels Redis gave
            self._outage_seeded = True
            self._local.set_spent(self._last_levels())
        self.fail_open_admits += 1
        return self._local.admit_now(
            tenant, model, policy, bound=bound, tokens=tokens, now=now, force=force
        )

    def _last_levels(self) -> dict[CounterKey, int]:
        return {
            self._parts[key]: spent + reserved for key, (spent, reserved) in self._snapshot.items()
        }

    # ------------------------------------------------------------------ settling

    def settle(self, ticket: Ticket, cost: int, tokens: int, now: float) -> None:
        if ticket.settled:
            return
        if not ticket.id:  # unlimited, or admitted locally while Redis was down
            self._local.settle(ticket, cost, tokens, now)
            if ticket.counters and self._ledger is not None:
                spend = _Spend(self._ledger.position, ticket.counters, cost, epoch=self._epoch)
                self._spend_backlog.append(spend)
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
            position = self._ledger.position
            # If Redis loses the reservation (it restarted empty), this spend is what it was.
            spend = _Spend(position, ticket.counters, cost, epoch=ticket.epoch)
            op = _Op("settle", self._settle_keys(ticket), [ticket.id, -ticket.bound, cost])
            op.position, op.spend = position, spend
            self._after_ledger.append(op)
            self._idle.clear()

    def _release(self, ticket: Ticket, tokens: int) -> None:
        keys = [
            self._key("inflight", self.replica),
            self._key("conc", ticket.tenant),
            self._key("rate", ticket.tenant),
        ]
        tpm = self._tpm_caps.get(ticket.tenant, "")
        self._queue(_Op("release", keys, [ticket.id, self.replica, ticket.tokens - tokens, tpm]))

    def _settle_keys(self, ticket: Ticket) -> list[str]:
        return [self._key("res", self.replica), *map(self._budget_key_of, ticket.counters)]

    async def open_session(self, tenant: str, limit: int | None) -> bool:
        if time.time() >= self._down_until:
            keys = [self._key("sess", tenant), self._key("tenants", self.replica)]
            try:
                reply = await self._call("open_session", keys, [self.replica, _opt(limit), tenant])
                return bool(int(reply))
            except RedisError as exc:
                self._went_down(exc)
        if not self._local.open_session_now(tenant, limit):
            return False
        self._local_sessions[tenant] = self._local_sessions.get(tenant, 0) + 1
        return True

    def close_session(self, tenant: str) -> None:
        if self._local_sessions.get(tenant):  # counted here while Redis was away
            self._local_sessions[tenant] -= 1
            self._local.close_session(tenant)
            return
        self._queue(_Op("close_session", [self._key("sess", tenant)], [self.replica]))

    async def _call(self, name: str, keys: list[str], args: list[str | int]) -> Any:
        """Run a script in the courier's next pipeline and wait for its answer."""
        return await self._answer(self._enqueue(name, keys, args))

    def _enqueue(self, name: str, keys: list[str], args: list[str | int]) -> _Op:
        op = _Op(name, keys, args, asyncio.get_running_loop().create_future())
        self._calls.append(op)
        self._called.set()
        self._wake.set()
        return op

    async def _answer(self, op: _Op) -> Any:
        if self._gone.is_set():
            raise RedisError("the quota store is closed")
        assert op.answer is not None
        try:  # the courier answers within the socket timeout; this bounds one that died
            return await asyncio.wait_for(asyncio.shield(op.answer), 4 * REDIS_TIMEOUT_S)
        except TimeoutError:
            raise RedisError("the quota courier did not answer") from None

    def _queue(self, op: _Op) -> None:
        self._ops.append(op)
        self._idle.clear()
        self._wake.set()

    async def _courier(self) -> None:
        """Send what is waiting, one pipeline per round trip; keep settles while Redis is down."""
        backoff, failures = 0.05, 0
        while True:
            calls = [self._calls.popleft() for _ in range(min(len(self._calls), 500))]
            calls = [op for op in calls if not op.skip]
            for op in calls:
                op.sent = True
            ops = [self._ops.popleft() for _ in range(min(len(self._ops), 500))]
            ops += self._committed_settles(500)
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
                self._went_down(exc)
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

    async def drain(self) -> None:
        """Wait until every queued settle has reached Redis (after its ledger row)."""
        await self._idle.wait()

    def _committed_settles(self, most: int) -> list[_Op]:
        """Budget settles whose ledger rows are committed (rows commit in queue order)."""
        assert self._ledger is not None
        committed, now = self._ledger.committed, time.time()
        out: list[_Op] = []
        waiting = self._after_ledger
        while waiting and waiting[0].position <= committed and len(out) < most:
            op = waiting.popleft()
            if op.spend is not None:
                op.spend.committed_at = now  # at the latest
            out.append(op)
        return out

    async def _send(self, calls: list[_Op], ops: list[_Op]) -> None:
        # Releases and settles first: a call that ended frees its share for the admits
        # behind it. Every queued script is idempotent per ticket, so an op sent again
        # after a NOSCRIPT (Redis restarted) or a dropped connection counts once.
        pending = [*ops, *calls]
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=False)
            for op in pending:
                pipe.evalsha(self._shas[op.name], len(op.keys), *op.keys, *op.args)
            results = await pipe.execute(raise_on_error=False)
            again: list[_Op] = []
            for op, result in zip(pending, results, strict=True):
                if isinstance(result, NoScriptError) and attempt == 1:
                    again.append(op)
                elif op.answer is not None:
                    op.answer_with(result)
                elif isinstance(result, Exception):  # a script bug: say so, do not loop on it
                    log.error("quota %s failed in Redis: %s", op.name, result)
                elif op.spend is not None and not int(result) and op.spend.epoch != self._epoch:
                    # Its reservation went with Redis's data: the cost goes in by the
                    # re-seeding rule (unless the ledger read already had it).
                    self._spend_backlog.append(op.spend)
            if not again:
                return
            await self._load_scripts()
            pending = again

    # ------------------------------------------------------------------ status

    def status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        windows = self.windows(now)
        out = []
        for limit in policy.budgets:
            window = windows[limit.window]
            key = self._budget_key(tenant, limit.model, window.key)
            self._seen.add(tenant)
            self._parts[key] = (tenant, limit.model, window.key)
            spent, reserved = self._snapshot.setdefault(key, (0, 0))
            out.append(
                BudgetStatus(
                    limit.window, limit.model, limit.nanos, spent, reserved, window.resets_at
                )
            )
        return out

    async def budget_status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        with contextlib.suppress(RedisError):
            windows = self.windows(now)
            await self._refresh(
                [self._budget_key(tenant, b.model, windows[b.window].key) for b in policy.budgets]
            )
        return self.status(tenant, policy, now)

    def tenants(self) -> list[str]:
        return list(self._seen)

    def windows(self, now: float) -> dict[WindowKind, Window]:
        return self._local.windows(now)

    async def _refresh(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, "s", "r")
        for key, (s, r) in zip(keys, await pipe.execute(), strict=True):
            self._snapshot[key] = (int(s or 0), int(r or 0))

    # ------------------------------------------------------------------ liveness

    async def _heartbeat(self) -> None:
        """Only the alive key: nothing slow may delay it (peers would reclaim a live replica)."""
        while not self._gone.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), self._heartbeat_s)
                return
            try:
                await self._beat()
            except RedisError as exc:
                self._went_down(exc)
            except Exception:  # a bug here must not stop the heartbeat (the replica would die)
                log.exception("quota heartbeat failed")

    async def _maintain(self) -> None:
        """Re-seed after data loss, hand over fail-open spend, refresh levels, reclaim the dead."""
        rounds = 0
        while not self._gone.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reseed.wait(), self._heartbeat_s)
            self._reseed.clear()
            if self._gone.is_set():
                return
            rounds += 1
            try:
                await self._check_seed()
                self._prune_snapshot()
                await self._refresh(list(self._snapshot))
                connected_s = time.time() - self._up_since
                if rounds % 2 == 0 and self.up and connected_s > self._alive_ttl_s:
                    # Only once live peers have had a full TTL to beat again after an outage.
                    await self._reclaim()
            except RedisError as exc:
                self._went_down(exc)
            except Exception:
                log.exception("quota maintenance failed")

    async def _beat(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._key("alive", self.replica), b"1", px=int(self._alive_ttl_s * 1000))
        pipe.sadd(self._key("replicas"), self.replica)
        await pipe.execute()
        if not self.up:
            log.warning("Redis is reachable again: shared limits and budgets are back")
            self._up_since = time.time()
        elif not self._up_since:
            self._up_since = time.time()
        self.up, self._down_until, self._outage_seeded = True, 0.0, False

    def _ledger_committed(self) -> None:
        self._wake.set()  # settles waiting for their rows can go
        if self._spend_backlog and self._ledger is not None:
            committed, now = self._ledger.committed, time.time()
            for spend in self._spend_backlog:
                if spend.committed_at is None and spend.position <= committed:
                    spend.committed_at = now

    async def _check_seed(self) -> None:
        epoch = cast(bytes | None, await self._redis.get(self._key("seeded")))
        if epoch is None:
            seeded = await self._seed() or await self._redis.get(self._key("seeded"))
            epoch = cast(bytes | None, seeded)
        if self._spend_backlog:
            await self._push_backlog(epoch)
        self._epoch = epoch

    async def _push_backlog(self, epoch: bytes | None) -> None:
        """Spend Redis lacks goes in, but for what a re-seeding read from the ledger."""
        backlog, self._spend_backlog = self._spend_backlog, []
        if epoch is not None:
            # Accrued under an earlier seeding and committed well before this one read the
            # ledger (replicas' clocks differ a little): in the seed. Later or unsure: added,
            # so an error can only over-count.
            read_at = float(epoch.rsplit(b"|", 1)[1]) - CLOCK_SKEW_S
            seeded = [
                s
                for s in backlog
                if s.epoch != epoch and s.committed_at is not None and s.committed_at < read_at
            ]
            backlog = [s for s in backlog if s not in seeded]
            if seeded:
                log.warning(
                    "Redis lost its data during the outage; %d fail-open spends are in the "
                    "ledger it was re-seeded from",
                    len(seeded),
                )
        totals: dict[str, int] = {}
        for spend in backlog:
            for counter in spend.counters:
                key = self._budget_key(*counter)
                totals[key] = totals.get(key, 0) + spend.nanos
        if not totals:
            return
        try:
            await self._run("add_spend", list(totals), [BUDGET_TTL_S, *totals.values()])
        except RedisError:
            self._spend_backlog[:0] = backlog
            raise

    async def _seed(self) -> bytes | None:
        """This window's spend from the ledger (first replica of the window, or Redis lost it).

        Returns the new epoch, or None when another replica seeded first.
        """
        assert self._spend_source is not None
        now = time.time()
        spend = await asyncio.to_thread(self._spend_source)
        keys = [self._key("seeded"), *(self._budget_key(*k) for k in spend)]
        epoch = f"{uuid.uuid4().hex}|{now}".encode()
        if not int(await self._run("seed", keys, [BUDGET_TTL_S, epoch, *spend.values()])):
            return None
        log.info("budgets seeded from the ledger: %d counters", len(spend))
        return epoch

    async def _reclaim(self) -> None:
        """Take over what dead replicas held: drop their counts, reconcile their reservations."""
        for raw in await self._redis.sunion([self._key("replicas"), self._key("claiming")]):
            replica = raw.decode() if isinstance(raw, bytes) else raw
            if replica == self.replica:
                continue
            keys = [
                self._key("alive", replica),
                self._key("res", replica),
                self._key("tenants", replica),
                self._key("claimed", replica),
                self._key("inflight", replica),
                self._key("replicas"),
                self._key("claiming"),
            ]
            flat = await self._run("claim", keys, [replica, self._p])
            if flat is None:
                continue  # alive
            orphans = [_orphan(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
            await self._reconcile(replica, orphans)
            await self._run("claimed", keys[3:4] + keys[6:7], [replica])

    async def _reconcile(self, replica: str, orphans: list[tuple[Orphan, list[str]]]) -> None:
        sink = self._ledger
        assert sink is not None
        refs = [o.ref for o, _ in orphans if o.ref is not None]
        recorded = await asyncio.to_thread(sink.recorded_cost, refs) if refs else {}
        claimed = self._key("claimed", replica)
        for orphan, keys in orphans:
            known = recorded.get(orphan.ref) if orphan.ref is not None else None
            charge = orphan.bound if known is None else known
            applied = await self._run(
                "settle", [claimed, *keys], [orphan.ticket, -orphan.bound, charge]
            )
            if int(applied):
                self.reclaimed += 1
                if known is None:
                    sink.record_orphan(orphan)
        if orphans:
            log.warning(
                "replica %s stopped answering: reclaimed %d reservations", replica, len(orphans)
            )

    def _went_down(self, exc: Exception) -> None:
        if self.up:
            log.error("Redis unreachable (%s): applying each tenant's when_store_down", exc)
        self.up = False
        self._down_until = time.time() + RETRY_DOWN_S

    # ------------------------------------------------------------------ plumbing

    async def _load_scripts(self) -> None:
        sources = {
            "admit": scripts.ADMIT,
            "release": scripts.RELEASE,
            "settle": scripts.SETTLE,
            "add_spend": scripts.ADD_SPEND,
            "open_session": scripts.OPEN_SESSION,
            "close_session": scripts.CLOSE_SESSION,
            "claim": scripts.CLAIM,
            "claimed": scripts.CLAIMED,
            "seed": scripts.SEED,
        }
        for name, source in sources.items():
            self._shas[name] = await self._redis.script_load(source)

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._redis.evalsha(self._shas[name], len(keys), *keys, *args)
        except NoScriptError:  # Redis restarted and lost its script cache
            await self._load_scripts()
            return await self._redis.evalsha(self._shas[name], len(keys), *keys, *args)

    def _key(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    def _budget_key_of(self, counter: CounterKey) -> str:
        return self._budget_key(*counter)

    def _budget_key(self, tenant: str, model: str | None, window: str) -> str:
        return f"{self._p}budget:{tenant}:{model or '*'}:{window}"


@dataclass(slots=True, eq=False)
class _Op:
    """One script (or command) for the courier; ``answer`` when a request waits on it."""

    name: str
    keys: list[str]
    args: list[str | int]
    answer: asyncio.Future[Any] | None = None
    position: int = 0  # a settle: the ledger row it waits for
    sent: bool = False  # a call: in a pipeline (an undo must follow it, not precede it)
    skip: bool = False  # a call whose caller left before it was sent
    spend: _Spend | None = None  # a settle: its cost, should Redis have lost the reservation

    def answer_with(self, result: Any) -> None:
        if self.answer is None or self.answer.done():  # the caller left; admit() undid it
            return
        if isinstance(result, Exception):
            self.answer.set_exception(result)
        else:
            self.answer.set_result(result)

    def fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)


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


@dataclass(slots=True, eq=False)
class _Spend:
    """A cost settled while Redis was unreachable; its ledger row is number ``position``."""

    position: int
    counters: tuple[CounterKey, ...]
    nanos: int
    committed_at: float | None = None  # when this replica saw its ledger row committed
    epoch: bytes | None = None  # the seeding Redis's counters stood on when it was spent


def _orphan(field: bytes, value: bytes) -> tuple[Orphan, list[str]]:
    rec = orjson.loads(value)
    ref = rec.get("q")
    orphan = Orphan(
        field.decode(), rec["t"], rec["m"], int(rec["b"]),
        (ref[0], int(ref[1])) if ref else None, float(rec["at"]),
    )  # fmt: skip
    return orphan, list(rec["k"])


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _float(raw: Any) -> float:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return float(text) if text else 0.0


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
