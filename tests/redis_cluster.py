"""A real local Redis Cluster for tests: three masters, no replicas, no persistence.

Built the way an operator builds one (``redis-server --cluster-enabled yes`` on
each port, then ``redis-cli --cluster create``), in a temporary directory, on
free ports. ``stop_node``/``start_node`` keep a node's port and cluster config
file, so it rejoins owning the same slots: after ``stop_node(i)`` (SIGKILL) it
comes back empty, as a shard without persistence restarts, and after
``stop_node(i, save=True)`` with its data, as after a partition.
``pause_node``/``resume_node`` freeze a node (SIGSTOP) so clients time out
instead of being refused.

``cluster-require-full-coverage no``: while one master is down the others keep
serving their slots, which is what the outage tests need to see.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import ExitStack
from types import TracebackType

import redis
from needs import missing
from poll import eventually_sync
from redis.backoff import NoBackoff
from redis.retry import Retry

MASTERS = 3
NODE_TIMEOUT_MS = 2000  # PFAIL after this; short so a restarted node is seen again soon
START_S = 20.0  # longest wait for a node or the cluster (2 shared cores, other suites running)


def require_cluster_tools() -> tuple[str, str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None:
        missing("redis-server", "redis-server")
    if cli is None:
        missing("redis-cli", "redis-tools")
    return server, cli


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all bound at once, so none is handed out twice)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class RedisCluster:
    def __init__(self, masters: int = MASTERS) -> None:
        self.server, self.cli = require_cluster_tools()
        ports = _free_ports(2 * masters)  # client ports, then cluster bus ports
        self.ports, self._bus_ports = ports[:masters], ports[masters:]
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * masters
        self._dir = tempfile.mkdtemp(prefix="gateway-redis-cluster-")

    @property
    def url(self) -> str:
        """A seed node, as the gateway is configured (``GATEWAY_REDIS_URL``)."""
        return f"redis-cluster://127.0.0.1:{self.ports[0]}"

    @property
    def seeds_url(self) -> str:
        """Every node as a seed: a replica can start while any one of them is down."""
        return "redis-cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node_url(self, i: int) -> str:
        """Node ``i`` on its own (a plain client sees only its slots)."""
        return f"redis://127.0.0.1:{self.ports[i]}/0"

    def client(self, i: int) -> redis.Redis:
        """A plain synchronous client of node ``i`` (the caller closes it)."""
        return redis.Redis(
            port=self.ports[i],
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )  # no retries: a SHUTDOWN drops the connection, and a stopped node should say so at once

    def start(self) -> None:
        for i in range(len(self.ports)):
            self._spawn(i)
        for i in range(len(self.ports)):
            self._wait_accepting(i)
        subprocess.run(
            [
                self.cli, "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            check=True, capture_output=True, timeout=START_S,
        )  # fmt: skip
        self.wait_ok()

    def close(self) -> None:
        for i in range(len(self.ports)):
            self.stop_node(i)
        shutil.rmtree(self._dir, ignore_errors=True)

    def running(self, i: int) -> bool:
        proc = self._procs[i]
        return proc is not None and proc.poll() is None

    def stop_node(self, i: int, *, save: bool = False) -> None:
        """Kill node ``i`` (its data is gone), or with ``save`` shut it down keeping its data."""
        proc = self._procs[i]
        if proc is not None and proc.poll() is None:
            if save:
                client = self.client(i)
                with contextlib.suppress(redis.ConnectionError):
                    client.shutdown(save=True)
                client.close()
            else:
                proc.send_signal(signal.SIGCONT)  # a paused node dies too
                proc.kill()
            proc.wait(10)
        self._procs[i] = None
        if not save:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self._dir, f"dump-{i}.rdb"))

    def start_node(self, i: int, *, wait: bool = True) -> None:
        """Node ``i`` again on its port, with its cluster config: it owns the same slots.

        With ``wait``, return once every node says ``cluster_state:ok``.
        """
        if self.running(i):
            return
        self._spawn(i)
        self._wait_accepting(i)
        if wait:
            self.wait_ok()

    def pause_node(self, i: int) -> None:
        """Freeze node ``i`` (SIGSTOP): connections stay open and nothing answers."""
        proc = self._procs[i]
        assert proc is not None, f"node {i} is not running"
        proc.send_signal(signal.SIGSTOP)

    def resume_node(self, i: int) -> None:
        proc = self._procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)

    def flush(self) -> None:
        """Every node empty: no keys, no scripts."""
        for i in range(len(self.ports)):
            client = self.client(i)
            client.flushall()
            client.script_flush()
            client.close()

    def slot_of(self, key: str) -> int:
        client = self.client(self._any_running())
        try:
            return int(client.cluster("KEYSLOT", key))
        finally:
            client.close()

    def node_of(self, key: str) -> int:
        """The index (into ``ports``) of the master that owns ``key``'s slot."""
        slot = self.slot_of(key)
        client = self.client(self._any_running())
        try:
            ranges = client.cluster("SLOTS")
        finally:
            client.close()
        for first, last, port in _master_ranges(ranges):
            if first <= slot <= last:
                return self.ports.index(port)
        raise AssertionError(f"slot {slot} of {key!r} is not assigned")

    def key_on(self, i: int, prefix: str = "k") -> str:
        """A key (``prefix`` + a number) whose slot node ``i`` owns."""
        for n in range(10_000):
            key = f"{prefix}{n}"
            if self.node_of(key) == i:
                return key
        raise AssertionError(f"no key with prefix {prefix!r} on node {i}")

    def info(self, i: int) -> dict[str, str]:
        """Node ``i``'s ``CLUSTER INFO`` as text fields."""
        client = self.client(i)
        try:
            raw = client.cluster("INFO")
        finally:
            client.close()
        assert isinstance(raw, dict), raw  # redis-py parses the reply's lines
        return {str(k): str(v) for k, v in raw.items()}

    def state(self) -> list[str]:
        """Each running node's ``cluster_state`` (``down`` for a stopped one)."""
        out = []
        for i in range(len(self.ports)):
            if not self.running(i):
                out.append("down")
                continue
            try:
                out.append(self.info(i).get("cluster_state", "?"))
            except redis.RedisError as exc:
                out.append(f"error: {exc}")
        return out

    def wait_ok(self, timeout: float = START_S) -> None:
        """Until every running node says ``cluster_state:ok`` with all slots assigned."""

        def ok() -> bool:
            for i in range(len(self.ports)):
                if not self.running(i):
                    continue
                try:
                    info = self.info(i)
                except redis.RedisError:
                    return False
                if info.get("cluster_state") != "ok" or info.get("cluster_slots_assigned") != str(
                    16384
                ):
                    return False
            return True

        eventually_sync(ok, timeout, 0.02, what=lambda: f"cluster_state:ok, got {self.state()}")

    def _any_running(self) -> int:
        return next(i for i in range(len(self.ports)) if self.running(i))

    def _spawn(self, i: int) -> None:
        self._procs[i] = subprocess.Popen(
            [
                self.server, "--port", str(self.ports[i]), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{i}.conf",
                "--cluster-port", str(self._bus_ports[i]),
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--cluster-require-full-coverage", "no",
                "--save", "", "--appendonly", "no", "--dbfilename", f"dump-{i}.rdb",
                "--daemonize", "no", "--loglevel", "warning", "--dir", self._dir,
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _wait_accepting(self, i: int) -> None:
        proc, port = self._procs[i], self.ports[i]
        assert proc is not None

        def accepting() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server (cluster node {i}) exited at start")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                return True
            return False

        eventually_sync(accepting, START_S, 0.02, what=f"cluster node {i} to accept connections")

    def __enter__(self) -> RedisCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _master_ranges(ranges: object) -> list[tuple[int, int, int]]:
    """``CLUSTER SLOTS`` as (first slot, last slot, the master's port) rows."""
    assert isinstance(ranges, list)
    return [(int(row[0]), int(row[1]), int(row[2][1])) for row in ranges]
