"""RedisQuota on a real Redis: what only a shared store does.

The guarantees both stores give are specified once, in `test_contract.py`.
Here: several `RedisQuota` instances ("replicas") against one Redis server
(a replica that "dies" simply stops its heartbeat), the courier, reclaiming,
re-seeding and failing open. Where a test needs time to pass on this side it
moves the replica's clock; what takes Redis's own time (a TTL, a heartbeat's
next round) is waited for with `poll.eventually`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis as redis_sync
from poll import eventually
from quota.fakes import Clock, Ledger, replica
from redis_server import RedisServer

from gateway.config.runtime import BudgetLimit, Policy
from gateway.errors import ServiceUnavailable
from gateway.quota.errors import BudgetExceeded, RateLimited
from gateway.quota.shared import RedisQuota

USD = 1_000_000_000
UTC = ZoneInfo("UTC")


def policy(**kw: Any) -> Policy:
    return Policy(enabled=True, allowed_models=frozenset({"m"}), **kw)


def daily(usd: float, **kw: Any) -> Policy:
    return policy(budgets=(BudgetLimit("day", None, int(usd * USD)),), **kw)


async def settled(q: RedisQuota) -> None:
    """Wait until the queued settles have reached Redis."""
    await asyncio.wait_for(q.drain(), 5)


def run(test: Callable[[], Any]) -> None:
    asyncio.run(test())


def test_a_budget_holds_across_replicas_under_concurrency(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00)
        async with replica(redis) as a, replica(redis) as b, replica(redis) as c:
            replicas = [a, b, c]

            async def one(i: int) -> bool:
                try:
                    await replicas[i % 3].admit(
                        "t", "m", p, bound=USD // 30, tokens=1, now=time.time()
                    )
                except BudgetExceeded:
                    return False
                return True

            admitted = await asyncio.gather(*(one(i) for i in range(120)))
            assert sum(admitted) == 30, "exactly what fits in $1, not 3x"
            status = await a.budget_status("t", p, time.time())
            assert status[0].reserved_nanos == 30 * (USD // 30)
            assert status[0].remaining_nanos < USD // 30

    run(test)


def test_settling_turns_the_reservation_into_spend_once(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00)
        async with replica(redis) as a, replica(redis) as b:
            ticket = await a.admit("t", "m", p, bound=USD // 2, tokens=10, now=time.time())
            a.settle(ticket, USD // 10, 5, time.time())
            again = dataclasses.replace(ticket, settled=False)  # past the Python guard
            a.settle(again, USD // 10, 5, time.time())  # the script itself counts it once
            await settled(a)
            [s] = await b.budget_status("t", p, time.time())
            assert (s.spent_nanos, s.reserved_nanos) == (USD // 10, 0)
            # What the settle freed is admissible from the other replica at once.
            await b.admit("t", "m", p, bound=USD * 8 // 10, tokens=1, now=time.time())
            with pytest.raises(BudgetExceeded, match=r"\$0\.100 left"):
                await a.admit("t", "m", p, bound=USD // 5, tokens=1, now=time.time())

    run(test)


def test_spend_counts_once_its_ledger_row_is_committed(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00, concurrent=1)
        ledger = Ledger()
        async with replica(redis, ledger) as a:
            ticket = await a.admit("t", "m", p, bound=USD // 2, tokens=1, now=time.time())
            ledger.position += 1  # the Recorder queues the row, then settles
            a.settle(ticket, USD // 10, 1, time.time())
            # The concurrency share is back at once (the release goes in the admit's own
            # round trip, or earlier); the budget still holds the bound.
            other = await a.admit("t", "m", p, bound=0, tokens=1, now=time.time())
            [s] = await a.budget_status("t", p, time.time())
            assert (s.spent_nanos, s.reserved_nanos) == (0, USD // 2)
            ledger.commit()
            await settled(a)
            [s] = await a.budget_status("t", p, time.time())
            assert (s.spent_nanos, s.reserved_nanos) == (USD // 10, 0)
            a.settle(other, 0, 1, time.time())

    run(test)


def test_rpm_and_concurrency_are_global(redis: RedisServer) -> None:
    async def test() -> None:
        async with replica(redis) as a, replica(redis) as b:
            p = policy(rpm=4)
            for q in (a, b, a, b):
                ticket = await q.admit("t", "m", p, bound=0, tokens=1, now=time.time())
                q.settle(ticket, 0, 1, time.time())
            with pytest.raises(RateLimited) as refused:
                await b.admit("t", "m", p, bound=0, tokens=1, now=time.time())
            assert refused.value.code == "rate_limit_exceeded"
            assert refused.value.headers["x-ratelimit-remaining-requests"] == "0"

            c = policy(concurrent=2)
            held = [await q.admit("u", "m", c, bound=0, tokens=1, now=time.time()) for q in (a, b)]
            with pytest.raises(RateLimited) as busy:
                await a.admit("u", "m", c, bound=0, tokens=1, now=time.time())
            assert busy.value.code == "concurrency_limit_exceeded"
            b.settle(held[1], 0, 1, time.time())
            await settled(b)
            await a.admit("u", "m", c, bound=0, tokens=1, now=time.time())

    run(test)


def test_a_dead_replicas_reservations_are_reclaimed_and_reconciled(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00, concurrent=3)
        ledger = Ledger({("req_written", 1): USD // 20})
        fast: dict[str, Any] = {"alive_ttl_s": 0.3, "heartbeat_s": 0.1}
        dead = RedisQuota(redis.url, UTC, **fast)
        await dead.start(dict, ledger)
        written = await dead.admit(
            "t", "m", p, bound=USD // 4, tokens=1, now=time.time(), ref=("req_written", 1)
        )
        lost = await dead.admit(
            "t", "m", p, bound=USD // 4, tokens=1, now=time.time(), ref=("req_lost", 2),
            service="indexer", tags="feature=search",
        )  # fmt: skip
        heartbeat = next(t for t in dead._tasks if t.get_name() == "quota-heartbeat")
        heartbeat.cancel()  # silent, as if killed or cut off: its alive key expires
        async with replica(redis, ledger, **fast) as alive:
            await alive.admit("t", "m", p, bound=0, tokens=1, now=time.time())
            with pytest.raises(RateLimited):  # the dead one's two calls still count...
                await alive.admit("t", "m", p, bound=0, tokens=1, now=time.time())
            # ...until its alive key expires and a maintenance round reclaims them.
            await eventually(lambda: alive.reclaimed == 2)
            [s] = await alive.budget_status("t", p, time.time())
            # The ledger had one call: its recorded cost. The other: its whole bound.
            assert s.spent_nanos == USD // 20 + USD // 4
            assert s.reserved_nanos == 0
            assert [(o.ref, o.bound) for o in ledger.orphans] == [(("req_lost", 2), USD // 4)]
            # Its row is counted where the call would have been: its service and tags.
            assert (ledger.orphans[0].service, ledger.orphans[0].tags) == (
                "indexer", "feature=search")  # fmt: skip
            for _ in range(2):  # its concurrency share is free again
                await alive.admit("t", "m", p, bound=0, tokens=1, now=time.time())
        # The "dead" replica was only partitioned: its late settles must not count again.
        dead.settle(written, USD // 20, 1, time.time())
        dead.settle(lost, USD // 8, 1, time.time())
        await settled(dead)
        await dead.aclose()
        client = redis_sync.Redis(port=redis.port)
        key = next(iter(client.scan_iter("gw:budget:{t}:*")))
        assert int(client.hget(key, "s") or 0) == USD // 20 + USD // 4
        client.close()

    run(test)


async def fall_open(redis: RedisServer, a: RedisQuota, *, keep_data: bool) -> Policy:
    """Spend $0.50 through Redis, lose Redis, then admit and settle $0.10 fail-open."""
    closed = daily(1.00)
    opened = daily(1.00, when_store_down="open", rpm=2)
    spent = await a.admit("o", "m", opened, bound=USD // 2, tokens=1, now=time.time())
    a.settle(spent, USD // 2, 1, time.time())
    await settled(a)
    await a._levels.refresh()  # what the heartbeat does every 2 s
    redis.stop(save=keep_data)
    with pytest.raises(ServiceUnavailable) as refused:
        await a.admit("c", "m", closed, bound=1, tokens=1, now=time.time())
    assert refused.value.status == 503
    assert refused.value.code == "quota_store_unavailable"
    assert not a.up
    # Open: this replica's own limits, from the last budget level Redis gave ($0.50).
    local = await a.admit("o", "m", opened, bound=USD // 4, tokens=1, now=time.time())
    with pytest.raises(BudgetExceeded):
        await a.admit("o", "m", opened, bound=USD // 2, tokens=1, now=time.time())
    tiny = await a.admit("o", "m", opened, bound=1, tokens=1, now=time.time())
    with pytest.raises(RateLimited):  # rpm 2, counted on this replica alone
        await a.admit("o", "m", opened, bound=1, tokens=1, now=time.time())
    a.settle(local, USD // 10, 1, time.time())
    a.settle(tiny, 0, 1, time.time())
    assert a.fail_open_admits == 4
    return opened


async def back_up(redis: RedisServer, a: RedisQuota) -> None:
    redis.start()
    # The next heartbeats: re-seed if need be, then the fail-open spend.
    await eventually(lambda: a.up and not a._seeding.backlog)
    await settled(a)


def test_redis_down_closed_refuses_with_503_open_admits_locally(redis: RedisServer) -> None:
    async def test() -> None:
        async with replica(redis, heartbeat_s=0.1) as a:
            opened = await fall_open(redis, a, keep_data=True)
            await back_up(redis, a)  # with its data: the fail-open spend is added to it
            [s] = await a.budget_status("o", opened, time.time())
            assert s.spent_nanos == USD // 2 + USD // 10

    run(test)


def test_redis_back_empty_is_reseeded_from_the_ledger_not_counted_twice(
    redis: RedisServer,
) -> None:
    async def test() -> None:
        ledger, clock = Ledger(), Clock()
        async with replica(redis, ledger, heartbeat_s=0.1, clock=clock) as a:
            opened = await fall_open(redis, a, keep_data=False)
            ledger.commit()  # the fail-open call's row...
            clock.advance(0.6)  # ...is committed well before the re-seeding reads
            window = a.windows(time.time())["day"].key
            ledger.spend = {("o", None, window): USD // 2 + USD // 10}  # the ledger has both
            await back_up(redis, a)
            [s] = await a.budget_status("o", opened, time.time())
            assert s.spent_nanos == USD // 2 + USD // 10

    run(test)


def test_spend_is_seeded_from_the_ledger_once_per_window(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00)
        ledger = Ledger()
        async with replica(redis) as first:
            window = first.windows(time.time())["day"].key
            await first.admit("t", "m", p, bound=0, tokens=1, now=time.time())  # seeds "t"
        ledger.spend = {("t", None, window): USD * 3 // 4}
        async with replica(redis, ledger) as a:
            [s] = await a.budget_status("t", p, time.time())
            assert s.spent_nanos == 0, "the tenant was already seeded (by the first replica)"
        redis.flush()  # Redis lost its data: the next replica seeds from the ledger
        async with replica(redis, ledger) as b:
            ledger.spend = {("t", None, window): USD * 9 // 10}  # what a second read would see
            async with replica(redis, ledger) as c:
                [s] = await c.budget_status("t", p, time.time())
                assert s.spent_nanos == USD * 3 // 4, "seeded once, not once per replica"
                with pytest.raises(BudgetExceeded):
                    await b.admit("t", "m", p, bound=USD // 2, tokens=1, now=time.time())

    run(test)


def test_realtime_sessions_are_counted_across_replicas(redis: RedisServer) -> None:
    async def test() -> None:
        async with replica(redis) as a, replica(redis) as b:
            assert await a.open_session("t", 2)
            assert await b.open_session("t", 2)
            assert not await a.open_session("t", 2)
            b.close_session("t")
            await settled(b)
            assert await a.open_session("t", 2)

    run(test)


def test_unlimited_tenants_never_touch_redis(redis: RedisServer) -> None:
    async def test() -> None:
        async with replica(redis) as a:
            redis.stop()
            ticket = await a.admit("free", "m", policy(), bound=USD, tokens=1, now=time.time())
            assert ticket.unlimited
            a.settle(ticket, USD, 1, time.time())
            assert a.up, "nothing was asked of Redis"

    run(test)


def held(r: RedisServer, tenant: str) -> tuple[int, int]:
    """(calls in flight, nanos reserved on the day budget) of a tenant, read from Redis."""
    client = redis_sync.Redis(port=r.port)
    try:
        in_flight = sum(int(v) for v in client.hvals(f"gw:conc:{tenant}"))
        reserved = sum(
            int(client.hget(k, "r") or 0) for k in client.scan_iter(f"gw:budget:{tenant}:*")
        )
        return in_flight, reserved
    finally:
        client.close()


def test_an_admit_whose_caller_leaves_holds_nothing(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00, concurrent=50)
        async with replica(redis) as a:
            # Cancelled at every point: before the courier took it, while it was in Redis.
            for yields in range(6):
                tasks = [
                    asyncio.create_task(
                        a.admit("t", "m", p, bound=USD // 100, tokens=1, now=time.time())
                    )
                    for _ in range(5)
                ]
                for _ in range(yields):
                    await asyncio.sleep(0)
                for task in tasks:
                    task.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                for result in results:  # those that were admitted before the cancel: settled
                    if not isinstance(result, BaseException):
                        a.settle(result, 0, 1, time.time())
            await settled(a)
            assert held(redis, "t") == (0, 0)

    run(test)


def test_a_call_in_flight_when_redis_restarts_empty_is_still_counted(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00)
        ledger = Ledger()
        async with replica(redis, ledger, heartbeat_s=0.1) as a:
            ticket = await a.admit("t", "m", p, bound=USD // 2, tokens=1, now=time.time())
            before = a._seeding.epochs["t"]
            redis.stop()
            redis.start()  # empty: the reservation, the spend and the seeding mark are gone
            await eventually(lambda: a._seeding.epochs["t"] != before)  # re-seeded
            ledger.position += 1  # the call ends after the ledger was read: not in the seed
            a.settle(ticket, USD // 5, 1, time.time())
            ledger.commit()
            await settled(a)
            # Its settle found no reservation: the next maintenance round adds it.
            await eventually(lambda: not a._seeding.backlog)
            [s] = await a.budget_status("t", p, time.time())
            assert (s.spent_nanos, s.reserved_nanos) == (USD // 5, 0)

    run(test)


def test_a_tenants_budgets_are_reseeded_before_its_next_budgeted_admit(
    redis: RedisServer,
) -> None:
    async def test() -> None:
        p = daily(1.00)
        ledger = Ledger()
        async with replica(redis, ledger) as a:
            window = a.windows(time.time())["day"].key
            await a.admit("t", "m", p, bound=1, tokens=1, now=time.time())
            redis.flush()  # as a restart without persistence, minus the dropped connections
            ledger.spend = {("t", None, window): USD * 3 // 4}
            # The admit finds the tenant unseeded, seeds it from the ledger, then decides.
            with pytest.raises(BudgetExceeded, match=r"\$0\.250 left"):
                await a.admit("t", "m", p, bound=USD // 2, tokens=1, now=time.time())
            assert a.up, "Redis answered"
            assert not a.fail_open_admits, "nothing fell back to this replica's limits"
            assert (await a.admit("t", "m", p, bound=USD // 5, tokens=1, now=time.time())).id
            client = redis_sync.Redis(port=redis.port)
            assert client.exists("gw:seeded:{t}")
            assert int(client.hget(f"gw:budget:{{t}}:*:{window}", "s") or 0) == USD * 3 // 4
            client.close()

    run(test)


def test_a_new_tenant_is_seeded_by_its_first_budgeted_admit(redis: RedisServer) -> None:
    async def test() -> None:
        async with replica(redis) as a:
            ticket = await a.admit("new", "m", daily(1.00), bound=1, tokens=1, now=time.time())
            assert ticket.id, "admitted in Redis"
            assert ticket.epoch, "on a seeding of its own"
            assert not a.fail_open_admits

    run(test)


def test_session_counts_survive_an_outage_and_a_restart_without_going_negative(
    redis: RedisServer,
) -> None:
    async def test() -> None:
        clock = Clock()
        async with replica(redis, heartbeat_s=0.1, clock=clock) as a:
            assert await a.open_session("t", 2)  # counted in Redis
            redis.stop(save=True)
            assert await a.open_session("t", 2), "fail-open: counted on this replica"
            a.close_session("t")  # the local one closes locally...
            redis.start()
            a.close_session("t")  # ...and the Redis one in Redis
            await settled(a)
            client = redis_sync.Redis(port=redis.port)
            assert sum(int(v) for v in client.hvals("gw:sess:{t}")) == 0
            await eventually(lambda: a.up)  # a heartbeat got through since the restart
            clock.advance(1.1)  # past the second in which nothing waits on Redis
            assert await a.open_session("t", 1)
            assert [int(v) for v in client.hvals("gw:sess:{t}")] == [1], "counted in Redis"
            redis.stop()
            redis.start()  # empty: the open session's count is gone
            client.close()
            client = redis_sync.Redis(port=redis.port)
            a.close_session("t")
            await settled(a)
            assert [int(v) for v in client.hvals("gw:sess:{t}")] == [0], "0, not -1"
            await eventually(lambda: a.up)  # a heartbeat got through since the restart
            clock.advance(1.1)  # past the second in which nothing waits on Redis
            assert await a.open_session("t", 1)
            assert [int(v) for v in client.hvals("gw:sess:{t}")] == [1], "counted in Redis"
            assert not await a.open_session("t", 1), "the limit holds"
            client.close()

    run(test)


def test_a_round_of_one_tenants_admits_is_one_script_call(redis: RedisServer) -> None:
    async def test() -> None:
        p = daily(1.00, concurrent=30, rpm=1000)
        async with replica(redis) as a:
            await a.admit("t", "m", p, bound=0, tokens=1, now=time.time())  # registers, seeds
            client = redis_sync.Redis(port=redis.port)
            before = client.info("commandstats")["cmdstat_evalsha"]["calls"]

            async def one() -> bool:
                try:
                    await a.admit("t", "m", p, bound=USD // 40, tokens=1, now=time.time())
                except (BudgetExceeded, RateLimited):
                    return False
                return True

            admitted = await asyncio.gather(*(one() for _ in range(60)))
            calls = client.info("commandstats")["cmdstat_evalsha"]["calls"] - before
            client.close()
            assert calls <= 2, f"{calls} script calls for one round of 60 admits"
            # Each was checked against the running levels: 29 more in flight, not 60.
            assert sum(admitted) == 29
            [s] = await a.budget_status("t", p, time.time())
            assert s.reserved_nanos == 29 * (USD // 40)

    run(test)
