"""Services and tags inside a tenant: their own limits and budgets, inside the tenant's.

The same specifications on `MemoryQuota`, on one Redis and on a Redis Cluster
(the `backend` fixture of `test_contract`): a call is admitted only if the
tenant, its service and every tag budget it carries have room, and a refusal
names whose limit it was.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from quota.fakes import Ledger, replica
from quota.test_contract import NOW, USD, Backend, admit, policy, settle
from quota.test_contract import backend as backend  # the fixture: memory, redis, cluster
from redis_server import RedisServer

from gateway.config.runtime import BudgetLimit, Policy
from gateway.config.scopes import ServiceRules
from gateway.config.tenant import ServiceLimits
from gateway.quota.errors import BudgetExceeded, RateLimited
from gateway.quota.store import Quota


def with_services(limits: dict[str, ServiceLimits], **kw: Any) -> Policy:
    rules = ServiceRules("sub", "group", frozenset({*limits, "other"}), limits)
    return policy(services=rules, **kw)


def test_a_services_concurrency_is_its_own_inside_the_tenants(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = with_services({"indexer": ServiceLimits(concurrent=2)}, concurrent=4)
        held = [await admit(q, "a", p, service="indexer") for _ in range(2)]
        with pytest.raises(RateLimited) as err:
            await admit(q, "a", p, service="indexer")
        assert err.value.code == "concurrency_limit_exceeded"
        assert "Service 'indexer' of tenant 'a'" in err.value.message
        # Another service (no limits of its own) still has the tenant's room: 2 more.
        held += [await admit(q, "a", p, service="chat") for _ in range(2)]
        with pytest.raises(RateLimited) as err:
            await admit(q, "a", p, service="chat")
        assert "Tenant 'a' already has 4" in err.value.message
        await settle(q, held[0])  # an indexer call ends: one indexer call fits again
        await settle(q, held[2])
        held.append(await admit(q, "a", p, service="indexer"))
        with pytest.raises(RateLimited):
            await admit(q, "a", p, service="indexer")

    backend.run(spec)


def test_a_services_rpm_and_tpm_are_its_own_and_the_tenants_still_cap_all(
    backend: Backend,
) -> None:
    async def spec(q: Quota) -> None:
        p = with_services({"batch": ServiceLimits(rpm=2, tpm=1000)}, rpm=4)
        for _ in range(2):
            await settle(q, await admit(q, "a", p, service="batch"))
        with pytest.raises(RateLimited) as err:
            await admit(q, "a", p, service="batch")
        assert err.value.headers["retry-after"] == "30", "one request refills in 60/2 s"
        assert "service 'batch' of tenant 'a'" in err.value.message
        for _ in range(2):
            await settle(q, await admit(q, "a", p, service="web"))
        with pytest.raises(RateLimited) as err:
            await admit(q, "a", p, service="web")
        assert "tenant 'a'" in err.value.message
        assert "service" not in err.value.message
        # TPM: a tenant without one; the service's own is charged and refuses past it.
        other = with_services({"batch": ServiceLimits(tpm=1000)})
        await settle(q, await admit(q, "b", other, tokens=900, service="batch"), tokens=900)
        with pytest.raises(RateLimited) as err:
            await admit(q, "b", other, tokens=200, service="batch")
        assert "tokens per min (TPM)" in err.value.message
        assert (await admit(q, "b", other, tokens=200, service="web")).tenant == "b"

    backend.run(spec)


def test_tokens_estimated_beyond_use_go_back_to_the_services_bucket(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = with_services({"batch": ServiceLimits(tpm=1000)})
        t = await admit(q, "a", p, tokens=900, service="batch")
        await settle(q, t, tokens=100)  # 800 estimated beyond what it used: given back
        await asyncio.sleep(0)
        big = await admit(q, "a", p, tokens=850, service="batch")
        assert big.tenant == "a"

    backend.run(spec)


def service_budget(service: str, nanos: int, strict: bool = True) -> BudgetLimit:
    return BudgetLimit("day", None, nanos, service=service, strict=strict)


def test_a_service_budget_refuses_its_service_only(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = with_services(
            {},
            budgets=(BudgetLimit("day", None, USD), service_budget("indexer", USD // 4)),
        )
        t = await admit(q, "a", p, bound=USD // 5, service="indexer")
        await settle(q, t, cost=USD // 5)
        with pytest.raises(BudgetExceeded) as err:
            await admit(q, "a", p, bound=USD // 10, service="indexer")
        assert "daily budget for service 'indexer' of $0.250" in err.value.message
        assert "$0.0500 left" in err.value.message
        # Another service spends from the tenant's budget only, up to its end.
        await settle(q, await admit(q, "a", p, bound=USD // 2, service="chat"), cost=USD // 2)
        with pytest.raises(BudgetExceeded) as err:
            await admit(q, "a", p, bound=USD // 2, service="chat")
        assert "of its daily budget of $1.00" in err.value.message
        levels = {s.scope: s.spent_nanos for s in await q.budget_status("a", p, NOW)}
        assert levels == {None: USD // 5 + USD // 2, "service:indexer": USD // 5}

    backend.run(spec)


def test_a_soft_service_budget_admits_and_flags_inside_a_strict_tenant(
    backend: Backend,
) -> None:
    async def spec(q: Quota) -> None:
        soft = service_budget("indexer", USD // 10, strict=False)
        p = with_services({}, budgets=(BudgetLimit("day", None, USD), soft))
        assert (await admit(q, "a", p, bound=USD // 5, service="indexer")).over_budget
        with pytest.raises(BudgetExceeded):  # the tenant's strict budget still holds
            await admit(q, "a", p, bound=USD, service="indexer")

    backend.run(spec)


def test_a_tag_budget_counts_the_calls_carrying_the_tag(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        tag = BudgetLimit("day", None, USD // 4, tag="feature=search")
        p = policy(budgets=(tag,))
        tags = "env=prod,feature=search"
        await settle(q, await admit(q, "a", p, bound=USD // 5, tags=tags), cost=USD // 5)
        with pytest.raises(BudgetExceeded) as err:
            await admit(q, "a", p, bound=USD // 10, tags="feature=search")
        assert "daily budget for the tag feature=search" in err.value.message
        # Other tags, no tags, and a value that only starts the same: not counted.
        for other in ("feature=chat", None, "feature=searching"):
            await settle(q, await admit(q, "a", p, bound=USD // 2, tags=other))
        [s] = await q.budget_status("a", p, NOW)
        assert (s.scope, s.spent_nanos) == ("tag:feature=search", USD // 5)

    backend.run(spec)


def test_concurrent_admits_of_a_service_never_overshoot(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        budget = service_budget("indexer", 10 * USD)
        p = with_services({"indexer": ServiceLimits(concurrent=25)}, budgets=(budget,))

        async def one(bound: int) -> bool:
            try:
                await admit(q, "a", p, bound=bound, service="indexer")
            except (RateLimited, BudgetExceeded):
                return False
            return True

        admitted = await asyncio.gather(*(one(USD) for _ in range(40)))
        assert sum(admitted) == 10, "ten $1 bounds fit a $10 budget, not one more"
        admitted = await asyncio.gather(*(one(0) for _ in range(40)))
        assert sum(admitted) == 15, "25 in flight: 10 held already"

    backend.run(spec)


def test_a_dead_replicas_service_shares_are_reclaimed(redis: RedisServer) -> None:
    async def main() -> None:
        p = with_services({"indexer": ServiceLimits(concurrent=2)})
        fast: dict[str, Any] = {"alive_ttl_s": 0.3, "heartbeat_s": 0.1}
        ledger = Ledger()
        async with replica(redis, ledger, **fast) as dead:
            for _ in range(2):
                await dead.admit("t", "m", p, bound=0, tokens=1, now=time.time(), service="indexer")
            heartbeat = next(t for t in dead._tasks if t.get_name() == "quota-heartbeat")
            heartbeat.cancel()  # silent, as if killed: its alive key expires
            async with replica(redis, ledger, **fast) as alive:
                with pytest.raises(RateLimited):
                    await alive.admit(
                        "t", "m", p, bound=0, tokens=1, now=time.time(), service="indexer"
                    )
                # Once its alive key expires, a maintenance round drops its shares.
                admitted = 0
                for _ in range(200):
                    try:
                        await alive.admit(
                            "t", "m", p, bound=0, tokens=1, now=time.time(), service="indexer"
                        )
                        admitted += 1
                    except RateLimited:
                        await asyncio.sleep(0.02)
                    if admitted == 2:
                        break
                assert admitted == 2, "both of the dead replica's shares were given back"

    asyncio.run(main())


def test_the_memory_store_lists_tenants_not_services() -> None:
    from gateway.quota.memory import MemoryQuota

    q = MemoryQuota(ZoneInfo("UTC"))
    p = with_services({"indexer": ServiceLimits(concurrent=2)})
    q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW, service="indexer")
    assert q.tenants() == ["a"]
