"""MemoryQuota: rate limits, concurrency and budget reservations as a specification."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.config.runtime import BudgetLimit, Policy
from gateway.quota.bucket import go_duration
from gateway.quota.errors import BudgetExceeded, RateLimited
from gateway.quota.memory import MemoryQuota
from gateway.quota.windows import current_windows

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()
USD = 1_000_000_000


def policy(**kw: object) -> Policy:
    return Policy(enabled=True, allowed_models=frozenset({"m"}), **kw)  # type: ignore[arg-type]


def test_rpm_bucket_headers_decrease_then_refill() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(rpm=3)
    remaining = []
    for _ in range(3):
        t = q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW)
        remaining.append(int(t.headers["x-ratelimit-remaining-requests"]))
        q.settle(t, 0, 1, NOW)
    assert remaining == [2, 1, 0]
    with pytest.raises(RateLimited) as err:
        q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW)
    assert err.value.status == 429
    assert err.value.code == "rate_limit_exceeded"
    assert err.value.headers["retry-after"] == "20"  # one request refills in 60/3 s
    t = q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW + 20)
    assert t.headers["x-ratelimit-remaining-requests"] == "0"
    assert t.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert q.admit_now("b", "m", p, bound=0, tokens=1, now=NOW).tenant == "b", (
        "limits are per tenant"
    )


def test_tpm_is_charged_the_estimate_and_settled_to_the_truth() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(tpm=1000)
    t = q.admit_now("a", "m", p, bound=0, tokens=900, now=NOW)
    assert t.headers["x-ratelimit-remaining-tokens"] == "100"
    with pytest.raises(RateLimited) as err:
        q.admit_now("a", "m", p, bound=0, tokens=200, now=NOW)
    assert err.value.type == "tokens"
    q.settle(t, 0, 100, NOW)  # really used 100: 800 come back
    assert (
        q.admit_now("a", "m", p, bound=0, tokens=800, now=NOW).headers[
            "x-ratelimit-remaining-tokens"
        ]
        == "100"
    )


def test_a_request_larger_than_the_tpm_limit_is_told_not_to_retry() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    with pytest.raises(RateLimited) as err:
        q.admit_now("a", "m", policy(tpm=100), bound=0, tokens=101, now=NOW)
    assert err.value.headers["x-should-retry"] == "false"


def test_concurrency_limit_counts_calls_in_flight() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(concurrent=2)
    first = q.admit_now("a", "m", p, bound=0, tokens=0, now=NOW)
    q.admit_now("a", "m", p, bound=0, tokens=0, now=NOW)
    with pytest.raises(RateLimited) as err:
        q.admit_now("a", "m", p, bound=0, tokens=0, now=NOW)
    assert err.value.code == "concurrency_limit_exceeded"
    q.settle(first, 0, 0, NOW)
    q.admit_now("a", "m", p, bound=0, tokens=0, now=NOW)


def test_strict_budget_reserves_the_bound_and_settles_the_real_cost() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(budgets=(BudgetLimit("day", None, 1 * USD),))
    held = [q.admit_now("a", "m", p, bound=USD // 4, tokens=0, now=NOW) for _ in range(4)]
    with pytest.raises(BudgetExceeded) as err:
        q.admit_now("a", "m", p, bound=1, tokens=0, now=NOW)
    assert err.value.code == "budget_exceeded"
    assert err.value.headers["x-should-retry"] == "false"
    assert "daily budget of $1.0000" in err.value.message
    assert "2026-11-26T00:00:00+00:00" in err.value.message
    assert err.value.headers["retry-after"] == str(12 * 3600)
    for t in held:
        q.settle(t, USD // 10, 0, NOW)  # each really cost $0.10
    (status,) = q.status("a", p, NOW)
    assert (status.spent_nanos, status.reserved_nanos, status.remaining_nanos) == (
        4 * USD // 10,
        0,
        6 * USD // 10,
    )
    q.admit_now("a", "m", p, bound=USD // 2, tokens=0, now=NOW)


def test_settling_twice_changes_nothing() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(budgets=(BudgetLimit("month", None, USD),))
    t = q.admit_now("a", "m", p, bound=100, tokens=0, now=NOW)
    q.settle(t, 50, 0, NOW)
    q.settle(t, 50, 0, NOW)
    assert q.status("a", p, NOW)[0].spent_nanos == 50


def test_per_model_budget_applies_only_to_that_model() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(budgets=(BudgetLimit("day", "m", 100),))
    with pytest.raises(BudgetExceeded):
        q.admit_now("a", "m", p, bound=101, tokens=0, now=NOW)
    q.admit_now("a", "other", p, bound=10**12, tokens=0, now=NOW)


def test_soft_budget_admits_and_flags() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(budgets=(BudgetLimit("day", None, 100),), budget_mode="soft")
    assert q.admit_now("a", "m", p, bound=1000, tokens=0, now=NOW).over_budget


def test_spend_loaded_from_the_ledger_counts() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(budgets=(BudgetLimit("month", None, 1000),))
    q.load_spend({("a", None, "2026-11"): 950})
    with pytest.raises(BudgetExceeded):
        q.admit_now("a", "m", p, bound=51, tokens=0, now=NOW)
    q.admit_now("a", "m", p, bound=50, tokens=0, now=NOW)


def test_windows_follow_the_configured_time_zone() -> None:
    # 23:30 UTC on 30 Nov is already 1 Dec in Berlin.
    now = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    berlin = current_windows(now, ZoneInfo("Europe/Berlin"))
    assert berlin["day"].key == "2026-12-01"
    assert berlin["month"].key == "2026-12"
    assert berlin["day"].resets_at == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert current_windows(now, ZoneInfo("UTC"))["month"].resets_at == datetime(
        2026, 12, 1, tzinfo=UTC
    )


def test_remembered_windows_turn_over_at_the_reset_and_follow_a_clock_set_back() -> None:
    q = MemoryQuota(ZoneInfo("Europe/Berlin"))
    before = datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC).timestamp()  # 23:59:59 in Berlin
    assert q.windows(before)["day"].key == "2026-11-30"
    assert q.windows(before + 1)["day"].key == "2026-12-01"
    assert q.windows(before + 1)["month"].key == "2026-12"
    assert q.windows(before)["month"].key == "2026-11", "a clock set back gets its own windows"


def test_a_budget_spent_before_midnight_does_not_count_the_next_day() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(budgets=(BudgetLimit("day", None, 10),))
    midnight = datetime(2026, 11, 26, tzinfo=UTC).timestamp()
    q.settle(q.admit_now("a", "m", p, bound=10, tokens=0, now=midnight - 1), 10, 0, midnight - 1)
    with pytest.raises(BudgetExceeded):
        q.admit_now("a", "m", p, bound=1, tokens=0, now=midnight - 0.5)
    assert q.admit_now("a", "m", p, bound=10, tokens=0, now=midnight).bound == 10


@pytest.mark.parametrize(("s", "text"), [(0.0123, "13ms"), (1.5, "1.5s"), (360, "6m0s")])
def test_reset_durations_use_go_syntax(s: float, text: str) -> None:
    assert go_duration(s) == text
