"""The Redis Cluster harness itself (`redis_cluster.RedisCluster`): what the cluster tests rely on."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import MovedError
from redis_cluster import RedisCluster


def test_three_masters_share_every_slot_and_say_ok(empty_cluster: RedisCluster) -> None:
    assert empty_cluster.state() == ["ok", "ok", "ok"]
    for i in range(3):
        info = empty_cluster.info(i)
        assert info["cluster_slots_assigned"] == "16384"
        assert info["cluster_known_nodes"] == "3"
        assert info["cluster_size"] == "3"  # three masters serving slots


def test_tenant_keys_spread_over_the_three_masters(empty_cluster: RedisCluster) -> None:
    owners = {empty_cluster.node_of(f"gw:{{tenant-{n}}}:budget") for n in range(30)}
    assert owners == {0, 1, 2}


def test_node_of_names_the_master_that_serves_the_key(empty_cluster: RedisCluster) -> None:
    key = "gw:{acme}:budget"
    owner = empty_cluster.node_of(key)
    other = (owner + 1) % 3
    assert empty_cluster.node_of("gw:{acme}:inflight") == owner  # same hash tag, same slot
    with empty_cluster.client(owner) as client:
        assert client.set(key, "1")
    with empty_cluster.client(other) as client, pytest.raises(MovedError) as moved:
        client.get(key)
    assert moved.value.port == empty_cluster.ports[owner]
    assert moved.value.slot_id == empty_cluster.slot_of(key)


def test_a_killed_node_rejoins_empty_with_its_slots_and_the_others_serve_meanwhile(
    empty_cluster: RedisCluster,
) -> None:
    lost, kept = empty_cluster.key_on(1, "lost"), empty_cluster.key_on(0, "kept")
    for i, key in ((1, lost), (0, kept)):
        with empty_cluster.client(i) as client:
            client.set(key, "v")

    empty_cluster.stop_node(1)
    with empty_cluster.client(0) as client:  # full coverage is not required
        assert client.get(kept) == b"v"
        assert client.set(kept, "w")
    with empty_cluster.client(1) as client, pytest.raises(redis.ConnectionError):
        client.ping()

    empty_cluster.start_node(1)
    assert empty_cluster.state() == ["ok", "ok", "ok"]
    assert empty_cluster.node_of(lost) == 1
    with empty_cluster.client(1) as client:
        assert client.get(lost) is None  # no persistence: its data is gone
    with empty_cluster.client(0) as client:
        assert client.get(kept) == b"w"


def test_a_node_shut_down_with_save_comes_back_with_its_data(empty_cluster: RedisCluster) -> None:
    key = empty_cluster.key_on(2, "saved")
    with empty_cluster.client(2) as client:
        client.set(key, "v")
    empty_cluster.stop_node(2, save=True)
    empty_cluster.start_node(2)
    with empty_cluster.client(2) as client:
        assert client.get(key) == b"v"


def test_a_paused_node_times_out_and_answers_again_once_resumed(
    empty_cluster: RedisCluster,
) -> None:
    with empty_cluster.client(2) as client:
        client.ping()
        empty_cluster.pause_node(2)
        with pytest.raises(redis.TimeoutError):
            client.ping()
        empty_cluster.resume_node(2)
        client.connection_pool.disconnect()  # the timed-out reply is still on that socket
        assert client.ping()


def test_flush_empties_every_node(empty_cluster: RedisCluster) -> None:
    keys = [empty_cluster.key_on(i, "f") for i in range(3)]
    for i, key in enumerate(keys):
        with empty_cluster.client(i) as client:
            client.set(key, "v")
            client.script_load("return 1")
    empty_cluster.flush()
    for i, key in enumerate(keys):
        with empty_cluster.client(i) as client:
            assert client.get(key) is None
            assert client.dbsize() == 0
            assert client.script_exists("e0e1f9fabfc9d4800c877a703b823ac0578ff8db") == [False]
