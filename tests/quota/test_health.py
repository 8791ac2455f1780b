"""Redis's reachability: per shard for requests, and up only when every shard answered."""

from __future__ import annotations

from quota.fakes import Clock

from gateway.quota.shared.health import RETRY_DOWN_S, Health


def test_a_failed_server_is_not_asked_for_a_second_and_is_up_once_it_answers() -> None:
    clock = Clock()
    health = Health(clock)
    health.went_down(ConnectionError("refused"))
    assert not health.up
    assert not health.asking(clock())
    clock.advance(RETRY_DOWN_S)
    assert health.asking(clock()), "asked again after a second"
    assert not health.up, "still down until it answers"
    before = clock()
    health.answered()  # the heartbeat got through
    assert health.up
    assert health.up_since >= before, "reclaiming waits a TTL from now"


def test_one_shard_down_keeps_the_store_down_until_that_shard_answers() -> None:
    clock = Clock()
    health = Health(clock, sharded=True)
    health.went_down(ConnectionError("refused"), "10.0.0.2:6379")
    assert not health.asking(clock(), "10.0.0.2:6379")
    assert health.asking(clock(), "10.0.0.1:6379"), "the other shards' tenants are asked"
    health.answered()  # a heartbeat on another shard does not say this one is back
    assert not health.up
    assert health.down_shards() == ["10.0.0.2:6379"]
    health.answered("10.0.0.2:6379")
    assert health.up
    assert health.down_shards() == []


def test_a_failure_on_a_key_of_no_tenant_blocks_no_shard() -> None:
    clock = Clock()
    health = Health(clock, sharded=True)
    health.went_down(ConnectionError("refused"))  # e.g. the heartbeat's keys
    assert not health.up
    assert health.asking(clock(), "10.0.0.1:6379")
    health.answered()
    assert health.up
