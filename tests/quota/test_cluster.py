"""RedisQuota on a real three-master Redis Cluster: what sharding adds to the shared store.

The contract suite (`test_contract.py`) runs on a cluster too. Here: tenants on
different shards, a dead replica's holds reclaimed on each shard, and one shard
going down (and coming back empty) while the tenants on the others carry on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from poll import eventually
from quota.fakes import Ledger, replica
from redis_cluster import RedisCluster

from gateway.config.runtime import BudgetLimit, Policy
from gateway.errors import ServiceUnavailable
from gateway.quota.errors import BudgetExceeded, RateLimited
from gateway.quota.shared import RedisQuota

USD = 1_000_000_000
UTC = ZoneInfo("UTC")


def daily(usd: float, **kw: Any) -> Policy:
    budgets = (BudgetLimit("day", None, int(usd * USD)),)
    return Policy(enabled=True, allowed_models=frozenset({"m"}), budgets=budgets, **kw)


def tenant_on(cluster: RedisCluster, node: int, prefix: str = "t") -> str:
    """A tenant whose keys the master ``node`` holds (all of a tenant's keys share a slot)."""
    for n in range(1000):
        if cluster.node_of(f"gw:rate:{{{prefix}{n}}}") == node:
            return f"{prefix}{n}"
    raise AssertionError(f"no tenant on node {node}")


def run(test: Callable[[], Any]) -> None:
    asyncio.run(test())


def test_a_tenants_keys_share_one_slot_and_tenants_spread_over_the_shards(
    empty_cluster: RedisCluster,
) -> None:
    async def test() -> None:
        tenants = [tenant_on(empty_cluster, node) for node in range(3)]
        async with replica(empty_cluster) as a, replica(empty_cluster) as b:
            for tenant in tenants:
                p = daily(1.00, concurrent=5, rpm=100, tpm=10_000)
                held = [
                    await q.admit(tenant, "m", p, bound=USD // 4, tokens=10, now=time.time())
                    for q in (a, b, a, b)
                ]
                with pytest.raises(BudgetExceeded):  # four quarters, from two replicas
                    await b.admit(tenant, "m", p, bound=1, tokens=1, now=time.time())
                for q, ticket in zip((a, b, a, b), held, strict=True):
                    q.settle(ticket, USD // 10, 5, time.time())
                await asyncio.wait_for(asyncio.gather(a.drain(), b.drain()), 5)
                [s] = await a.budget_status(tenant, p, time.time())
                assert (s.spent_nanos, s.reserved_nanos) == (4 * USD // 10, 0)
        keys: dict[int, set[int]] = {}
        for i in range(3):
            node = empty_cluster.client(i)
            for key in node.scan_iter("gw:*"):
                name = key.decode()
                if "{" in name:
                    keys.setdefault(empty_cluster.slot_of(name), set()).add(i)
            node.close()
        assert len(keys) == 3, "three tenants, three slots"
        assert sorted(min(nodes) for nodes in keys.values()) == [0, 1, 2], "one per master"

    run(test)


def test_a_dead_replicas_holds_are_reclaimed_on_every_shard(empty_cluster: RedisCluster) -> None:
    async def test() -> None:
        tenants = [tenant_on(empty_cluster, node) for node in range(3)]
        p = daily(1.00, concurrent=2)
        ledger = Ledger({("req_0", 1): USD // 20})
        fast: dict[str, Any] = {"alive_ttl_s": 0.3, "heartbeat_s": 0.1}
        dead = RedisQuota(empty_cluster.url, UTC, **fast)
        await dead.start(dict, ledger)
        for n, tenant in enumerate(tenants):
            ref = (f"req_{n}", 1)
            await dead.admit(tenant, "m", p, bound=USD // 4, tokens=1, now=time.time(), ref=ref)
        heartbeat = next(t for t in dead._tasks if t.get_name() == "quota-heartbeat")
        heartbeat.cancel()  # silent, as if killed: its alive key expires
        async with replica(empty_cluster, ledger, **fast) as alive:
            await eventually(lambda: alive.reclaimed == 3)
            for n, tenant in enumerate(tenants):
                [s] = await alive.budget_status(tenant, p, time.time())
                # The ledger had the first call: its cost. The others: their whole bound.
                assert s.spent_nanos == (USD // 20 if n == 0 else USD // 4), tenant
                assert s.reserved_nanos == 0
                for _ in range(2):  # the dead one's concurrency share is free again
                    await alive.admit(tenant, "m", p, bound=0, tokens=1, now=time.time())
                with pytest.raises(RateLimited):
                    await alive.admit(tenant, "m", p, bound=0, tokens=1, now=time.time())
            assert sorted(o.ref for o in ledger.orphans if o.ref) == [("req_1", 1), ("req_2", 1)]
        dead._gone.set()
        await dead.aclose()

    run(test)


def test_one_shard_down_leaves_the_other_shards_tenants_served(
    empty_cluster: RedisCluster,
) -> None:
    async def test() -> None:
        ledger = Ledger()
        down, up = 0, 1
        closed, opened = tenant_on(empty_cluster, down, "c"), tenant_on(empty_cluster, down, "o")
        other = tenant_on(empty_cluster, up, "u")
        p = daily(1.00)
        lenient = daily(1.00, when_store_down="open")
        async with replica(empty_cluster, ledger, heartbeat_s=0.1) as a:
            for tenant, policy in ((closed, p), (opened, lenient), (other, p)):
                await a.admit(tenant, "m", policy, bound=1, tokens=1, now=time.time())
            await a._levels.refresh()  # what the maintenance round does every 2 s
            empty_cluster.stop_node(down)  # its data is gone
            with pytest.raises(ServiceUnavailable):
                await a.admit(closed, "m", p, bound=1, tokens=1, now=time.time())
            local = await a.admit(opened, "m", lenient, bound=USD // 4, tokens=1, now=time.time())
            assert not local.id, "admitted on this replica's own limits"
            served = await a.admit(other, "m", p, bound=USD // 2, tokens=1, now=time.time())
            assert served.id, "the other shard's tenant is still admitted in Redis"
            with pytest.raises(BudgetExceeded):  # ...against its budget there
                await a.admit(other, "m", p, bound=USD // 2 + 1, tokens=1, now=time.time())
            assert not a.up, "a shard is down: gateway_quota_store_up says so"
            ledger.position += 1
            a.settle(local, USD // 10, 1, time.time())  # the fail-open call's row...
            ledger.commit()
            window = a.windows(time.time())["day"].key
            ledger.spend = {(opened, None, window): USD // 10}  # ...is in the ledger
            empty_cluster.start_node(down)  # back, empty
            # Its tenants are seeded again from the ledger, the fail-open spend counted once.
            await eventually(lambda: a.up and not a._seeding.backlog, 15)
            await eventually(lambda: _admitted_in_redis(a, opened, lenient), 15)
            [s] = await a.budget_status(opened, lenient, time.time())
            assert s.spent_nanos == USD // 10

    run(test)


async def _admitted_in_redis(q: RedisQuota, tenant: str, policy: Policy) -> bool:
    ticket = await q.admit(tenant, "m", policy, bound=0, tokens=1, now=time.time())
    q.settle(ticket, 0, 1, time.time())
    return bool(ticket.id)
