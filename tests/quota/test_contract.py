"""The `Quota` contract: the same specifications hold in one process and across replicas.

Every test here runs against `MemoryQuota`, against `RedisQuota` on a real
Redis, and on a real three-master Redis Cluster (skipped where ``redis-server``
is missing, a failure in CI). Redis
keeps its rate buckets on its own clock, so a specification here never waits
for a bucket to refill: that is specified with an injected clock in
`test_memory.py`. Budgets use the ``now`` each call passes, on both stores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from poll import eventually
from quota.fakes import Ledger
from redis_cluster import RedisCluster
from redis_server import RedisServer

from gateway.config.runtime import BudgetLimit, Policy
from gateway.quota.errors import BudgetExceeded, RateLimited
from gateway.quota.orphans import CounterKey
from gateway.quota.store import Quota, Ticket, make_quota

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()  # noon: 12 h before the day resets
USD = 1_000_000_000

Spec = Callable[[Quota], Awaitable[None]]


def policy(**kw: object) -> Policy:
    return Policy(enabled=True, allowed_models=frozenset({"m"}), **kw)  # type: ignore[arg-type]


def daily(nanos: int, **kw: object) -> Policy:
    return policy(budgets=(BudgetLimit("day", None, nanos),), **kw)


@dataclass(frozen=True)
class Backend:
    redis_url: str | None  # None: the in-process store

    def run(self, spec: Spec, spend: dict[CounterKey, int] | None = None) -> None:
        """Start a store on a ledger holding ``spend``, run ``spec`` on it, close it."""

        async def main() -> None:
            ledger = Ledger()
            ledger.spend = spend or {}
            quota = make_quota(ZoneInfo("UTC"), self.redis_url)
            await quota.start(ledger.read, ledger)
            try:
                await spec(quota)
            finally:
                await quota.aclose()

        asyncio.run(main())


@pytest.fixture(params=["memory", "redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend(None)
    if request.param == "cluster":  # three masters: tenants' keys spread over them
        cluster: RedisCluster = request.getfixturevalue("empty_cluster")
        return Backend(cluster.url)
    server: RedisServer = request.getfixturevalue("redis")
    return Backend(server.url)


async def admit(
    q: Quota, tenant: str, p: Policy, bound: int = 0, tokens: int = 1, **kw: object
) -> Ticket:
    return await q.admit(tenant, "m", p, bound=bound, tokens=tokens, now=NOW, **kw)  # type: ignore[arg-type]


async def settle(
    q: Quota, ticket: Ticket, cost: int = 0, tokens: int = 1, now: float = NOW
) -> None:
    """Settle and wait until it is applied (a shared store sends settles in the background)."""
    q.settle(ticket, cost, tokens, now)
    await q.drain()


async def level(q: Quota, tenant: str, p: Policy, now: float = NOW) -> tuple[int, int]:
    """(spent, reserved) of the tenant's first budget, read now."""
    status = (await q.budget_status(tenant, p, now))[0]
    return status.spent_nanos, status.reserved_nanos


# ------------------------------------------------------------------ rate limits


def test_rpm_headers_count_down_and_the_refusal_says_when(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = policy(rpm=3)
        remaining = []
        for _ in range(3):
            t = await admit(q, "a", p)
            remaining.append(t.headers["x-ratelimit-remaining-requests"])
            await settle(q, t)
        assert remaining == ["2", "1", "0"]
        with pytest.raises(RateLimited) as err:
            await admit(q, "a", p)
        assert err.value.status == 429
        assert (err.value.code, err.value.type) == ("rate_limit_exceeded", "requests")
        assert err.value.headers["retry-after"] == "20", "one request refills in 60/3 s"
        assert err.value.headers["x-ratelimit-remaining-requests"] == "0"
        assert (await admit(q, "b", p)).tenant == "b", "limits are per tenant"

    backend.run(spec)


def test_tpm_is_charged_the_estimate_and_settled_to_the_truth(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        # 30 tokens a minute refill half a token a second: no refill shows in the headers.
        p = policy(tpm=30)
        t = await admit(q, "a", p, tokens=27)
        assert t.headers["x-ratelimit-remaining-tokens"] == "3"
        with pytest.raises(RateLimited, match="Limit 30, Requested 6") as err:
            await admit(q, "a", p, tokens=6)
        assert err.value.type == "tokens"
        assert err.value.headers["retry-after"] == "6", "3 more tokens refill in 6 s"
        await settle(q, t, tokens=3)  # really used 3: 24 come back
        assert (await admit(q, "a", p, tokens=24)).headers["x-ratelimit-remaining-tokens"] == "3"

    backend.run(spec)


def test_a_request_larger_than_the_tpm_limit_is_told_not_to_retry(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        with pytest.raises(RateLimited, match="larger than the limit") as err:
            await admit(q, "a", policy(tpm=100), tokens=101)
        assert err.value.headers["x-should-retry"] == "false"

    backend.run(spec)


def test_concurrency_limit_counts_calls_in_flight(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = policy(concurrent=2)
        first = await admit(q, "a", p)
        await admit(q, "a", p)
        with pytest.raises(RateLimited) as err:
            await admit(q, "a", p)
        assert (err.value.code, err.value.type) == ("concurrency_limit_exceeded", "requests")
        assert err.value.headers["retry-after"] == "1"
        await settle(q, first)
        await admit(q, "a", p)

    backend.run(spec)


# ------------------------------------------------------------------ budgets


def test_strict_budget_reserves_the_bound_and_settles_the_real_cost(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(USD)
        held = [await admit(q, "a", p, bound=USD // 4) for _ in range(4)]
        with pytest.raises(BudgetExceeded) as err:
            await admit(q, "a", p, bound=1)
        assert (err.value.status, err.value.code) == (429, "budget_exceeded")
        assert err.value.type == "insufficient_quota"
        assert err.value.headers["x-should-retry"] == "false"
        assert "daily budget of $1.00" in err.value.message
        assert "2026-11-26T00:00:00+00:00" in err.value.message
        assert err.value.headers["retry-after"] == str(12 * 3600)
        for t in held:
            await settle(q, t, USD // 10)  # each really cost $0.10
        (status,) = await q.budget_status("a", p, NOW)
        assert (status.spent_nanos, status.reserved_nanos, status.remaining_nanos) == (
            4 * USD // 10,
            0,
            6 * USD // 10,
        )
        await admit(q, "a", p, bound=USD // 2)

    backend.run(spec)


def test_a_strict_budget_holds_under_concurrency(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(USD)

        async def one() -> bool:
            try:
                await admit(q, "t", p, bound=USD // 30)
            except BudgetExceeded:
                return False
            return True

        admitted = await asyncio.gather(*(one() for _ in range(120)))
        assert sum(admitted) == 30, "exactly what fits in $1"
        [status] = await q.budget_status("t", p, NOW)
        assert status.reserved_nanos == 30 * (USD // 30)
        assert status.remaining_nanos < USD // 30

    backend.run(spec)


def test_settling_twice_changes_nothing(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = policy(budgets=(BudgetLimit("month", None, USD),))
        t = await admit(q, "a", p, bound=100)
        await settle(q, t, 50)
        await settle(q, t, 50)
        assert await level(q, "a", p) == (50, 0)

    backend.run(spec)


def test_a_held_bound_billed_for_less_gives_the_difference_back(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(USD)
        t = await admit(q, "a", p, bound=USD // 2)
        await settle(q, t, USD // 2)  # a batch: its bound is charged while it runs
        with pytest.raises(BudgetExceeded):
            await admit(q, "a", p, bound=USD * 8 // 10)
        q.adjust(t.counters, USD // 10 - USD // 2)  # it ended having used $0.10

        async def billed() -> bool:
            return await level(q, "a", p) == (USD // 10, 0)

        await eventually(billed, what="the difference given back")
        await admit(q, "a", p, bound=USD * 8 // 10)

    backend.run(spec)


def test_moving_spend_of_an_ended_window_changes_nothing_now(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(USD)
        t = await q.admit("a", "m", p, bound=100, tokens=1, now=NOW - 86400)  # yesterday
        await settle(q, t, 100, now=NOW - 86400)
        q.adjust(t.counters, -100)
        await q.drain()
        assert await level(q, "a", p) == (0, 0)

    backend.run(spec)


def test_per_model_budget_applies_only_to_that_model(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = policy(budgets=(BudgetLimit("day", "m", 100),))
        with pytest.raises(BudgetExceeded, match="m budget"):
            await admit(q, "a", p, bound=101)
        await q.admit("a", "other", p, bound=10**12, tokens=0, now=NOW)

    backend.run(spec)


def test_soft_budget_admits_and_flags(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(100, budget_mode="soft")
        assert not (await admit(q, "a", p, bound=100)).over_budget
        assert (await admit(q, "a", p, bound=1000)).over_budget
        assert await level(q, "a", p) == (0, 1100), "both are held"

    backend.run(spec)


def test_spend_in_the_ledger_at_start_counts(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = policy(budgets=(BudgetLimit("month", None, 1000),))
        with pytest.raises(BudgetExceeded):
            await admit(q, "a", p, bound=51)
        await admit(q, "a", p, bound=50)

    backend.run(spec, spend={("a", None, "2026-11"): 950})


def test_a_budget_spent_before_midnight_does_not_count_the_next_day(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(10)
        midnight = datetime(2026, 11, 26, tzinfo=UTC).timestamp()
        t = await q.admit("a", "m", p, bound=10, tokens=0, now=midnight - 1)
        await settle(q, t, 10, now=midnight - 1)
        with pytest.raises(BudgetExceeded):
            await q.admit("a", "m", p, bound=1, tokens=0, now=midnight - 0.5)
        assert (await q.admit("a", "m", p, bound=10, tokens=0, now=midnight)).bound == 10

    backend.run(spec)


def test_budget_status_reports_each_window_and_model(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = policy(
            budgets=(BudgetLimit("day", None, 1000), BudgetLimit("month", "m", 5000)),
        )
        t = await admit(q, "a", p, bound=300)
        await settle(q, await admit(q, "a", p, bound=200), 120)
        day, month = await q.budget_status("a", p, NOW)
        assert (day.window, day.model, day.limit_nanos) == ("day", None, 1000)
        assert (day.spent_nanos, day.reserved_nanos, day.remaining_nanos) == (120, 300, 580)
        assert day.resets_at == datetime(2026, 11, 26, tzinfo=UTC)
        assert (month.window, month.model, month.limit_nanos) == ("month", "m", 5000)
        assert (month.spent_nanos, month.reserved_nanos, month.remaining_nanos) == (120, 300, 4580)
        assert month.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
        assert q.status("a", p, NOW) == [day, month], "status answers from the last reading"
        assert q.windows(NOW)["day"].key == "2026-11-25"
        await settle(q, t, 300)
        assert await level(q, "a", p) == (420, 0)
        assert "a" in q.tenants()

    backend.run(spec)


# ------------------------------------------------------------------ force, release, unlimited


def test_a_forced_admit_passes_every_limit_and_is_settled_like_any_other(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(100, concurrent=1, rpm=1)
        first = await admit(q, "a", p, bound=100)
        assert not first.over_budget
        forced = await admit(q, "a", p, bound=50, force=True)
        assert forced.over_budget, "past the strict budget: flagged, not refused"
        with pytest.raises(RateLimited) as err:
            await admit(q, "a", p)
        assert err.value.code == "concurrency_limit_exceeded", "both calls are in flight"
        await settle(q, first, 100)
        await settle(q, forced, 50)
        assert await level(q, "a", p) == (150, 0)

    backend.run(spec)


def test_a_refused_admit_holds_nothing(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(100, concurrent=1)
        with pytest.raises(BudgetExceeded):
            await admit(q, "a", p, bound=101)
        assert await level(q, "a", p) == (0, 0)
        held = await admit(q, "a", p, bound=100)  # the refused call took no concurrency share
        with pytest.raises(RateLimited):
            await admit(q, "a", p, bound=0)
        assert await level(q, "a", p) == (0, 100), "the refused call reserved nothing"
        await settle(q, held, 0)
        await admit(q, "a", p, bound=100)

    backend.run(spec)


def test_an_admit_whose_caller_leaves_holds_nothing_once_settled(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        p = daily(USD, concurrent=5)
        for yields in range(4):  # cancelled before it ran, while it waited, after it was done
            tasks = [asyncio.create_task(admit(q, "t", p, bound=USD // 100)) for _ in range(5)]
            for _ in range(yields):
                await asyncio.sleep(0)  # one turn of the event loop, not a wait for time
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Ticket):  # admitted before the cancel: the caller settles
                    await settle(q, result)
        await q.drain()
        assert await level(q, "t", p) == (0, 0)
        held = [await admit(q, "t", p, bound=USD // 100) for _ in range(5)]
        assert len(held) == 5, "every concurrency share is free again"

    backend.run(spec)


def test_a_tenant_without_limits_holds_nothing(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        t = await admit(q, "free", policy(), bound=USD)
        assert t.unlimited
        assert t.headers == {}
        await settle(q, t, USD)
        assert "free" not in q.tenants(), "nothing was counted for it"

    backend.run(spec)


# ------------------------------------------------------------------ sessions


def test_realtime_sessions_are_counted_against_their_limit(backend: Backend) -> None:
    async def spec(q: Quota) -> None:
        assert await q.open_session("t", 2)
        assert await q.open_session("t", 2)
        assert not await q.open_session("t", 2)
        assert await q.open_session("u", 2), "per tenant"
        q.close_session("t")
        await q.drain()
        assert await q.open_session("t", 2)
        assert not await q.open_session("t", 2)
        assert await q.open_session("t", None), "no limit: always"

    backend.run(spec)
