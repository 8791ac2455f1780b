"""MemoryQuota where it differs from the contract both stores meet (`test_contract.py`):
its buckets and windows follow the clock each call passes, so time passes without waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.config.runtime import Policy
from gateway.quota.bucket import go_duration
from gateway.quota.errors import RateLimited
from gateway.quota.memory import MemoryQuota
from gateway.quota.windows import current_windows

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def policy(**kw: object) -> Policy:
    return Policy(enabled=True, allowed_models=frozenset({"m"}), **kw)  # type: ignore[arg-type]


def test_the_rpm_bucket_refills_with_the_clock() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(rpm=3)
    for _ in range(3):
        q.settle(q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW), 0, 1, NOW)
    with pytest.raises(RateLimited) as err:
        q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW)
    assert err.value.headers["retry-after"] == "20"  # one request refills in 60/3 s
    with pytest.raises(RateLimited):
        q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW + 19.9)
    t = q.admit_now("a", "m", p, bound=0, tokens=1, now=NOW + 20)
    assert t.headers["x-ratelimit-remaining-requests"] == "0"
    assert t.headers["x-ratelimit-reset-requests"] == "1m0s"


def test_unused_tokens_come_back_and_the_bucket_refills_with_the_clock() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    p = policy(tpm=1000)
    t = q.admit_now("a", "m", p, bound=0, tokens=900, now=NOW)
    assert t.headers["x-ratelimit-remaining-tokens"] == "100"
    q.settle(t, 0, 100, NOW)  # really used 100: 800 come back
    t = q.admit_now("a", "m", p, bound=0, tokens=800, now=NOW)
    assert t.headers["x-ratelimit-remaining-tokens"] == "100"
    t = q.admit_now("a", "m", p, bound=0, tokens=200, now=NOW + 6)  # 100 more in 6 s
    assert t.headers["x-ratelimit-remaining-tokens"] == "0"


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


@pytest.mark.parametrize(("s", "text"), [(0.0123, "13ms"), (1.5, "1.5s"), (360, "6m0s")])
def test_reset_durations_use_go_syntax(s: float, text: str) -> None:
    assert go_duration(s) == text


def test_a_reloaded_policy_with_the_same_limits_keeps_the_buckets_levels() -> None:
    q = MemoryQuota(ZoneInfo("UTC"))
    before = policy(rpm=2, tpm=1000)
    for _ in range(2):
        q.settle(q.admit_now("a", "m", before, bound=0, tokens=400, now=NOW), 0, 400, NOW)
    # A reload compiles a new Policy: other fields changed, the rates did not.
    after = policy(rpm=2, tpm=1000, max_tool_calls=3, budgets=())
    with pytest.raises(RateLimited):
        q.admit_now("a", "m", after, bound=0, tokens=1, now=NOW)
    t = q.admit_now("a", "m", policy(rpm=3, tpm=1000), bound=0, tokens=100, now=NOW)
    assert t.headers["x-ratelimit-remaining-tokens"] == "100"  # tpm unchanged: 200 left, less 100
    assert t.headers["x-ratelimit-remaining-requests"] == "2"  # rpm changed: a new bucket
