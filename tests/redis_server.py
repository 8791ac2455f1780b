"""A real Redis server for tests, on a free port, with no persistence.

Debian's ``redis-server`` package provides the binary (``.ci/run`` installs it).
``stop``/``start`` keep the port, so a test can take Redis away mid-run and
bring it back empty, as a restarted Redis without persistence comes back, or
(``stop(save=True)``) with its data, as after a network partition.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from types import TracebackType

from needs import missing
from poll import eventually_sync


def require_redis() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server", "redis-server")
    return binary


class RedisServer:
    def __init__(self) -> None:
        self.binary = require_redis()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="gateway-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                "--dir", self._dir,
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proc = self._proc

        def accepting() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return True
            return False

        eventually_sync(accepting, 10, 0.02, what="redis-server to accept connections")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, *, save: bool = False) -> None:
        """Kill it (its data is gone), or with ``save`` shut it down keeping its data."""
        if self._proc is not None and self._proc.poll() is None:
            if save:
                import redis

                with contextlib.suppress(redis.ConnectionError):
                    redis.Redis(port=self.port).shutdown(save=True)
            else:
                self._proc.kill()
            self._proc.wait(10)
        self._proc = None
        if not save:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self._dir, "dump.rdb"))

    def flush(self) -> None:
        import redis

        client = redis.Redis(port=self.port)
        client.flushall()
        client.script_flush()
        client.close()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
